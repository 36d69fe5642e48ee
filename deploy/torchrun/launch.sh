#!/usr/bin/env bash
# Runs NPROC ranks of the storagebench benchmarks on this machine, as
# torchrun starts the workers of one node, and saves each rank's benchmark
# output as rank-<R>.txt beside its timeline.
#
#   go test -c -o storagebench.test ./bench
#   deploy/torchrun/launch.sh -n 4 -test.run '^$' -test.bench '^BenchmarkTrain$' -test.benchtime 200x
#   storagebench merge -o cluster.txt results/<id>/rank-*.txt results/<id>/timeline-rank*.jsonl
#
# Usage: launch.sh [-n NPROC] [TEST BINARY FLAGS...]
#   -n NPROC  ranks to start (default 4); every other argument goes to the
#             test binary. -test.benchtime must be a count of steps (Nx),
#             never a duration, so that every rank runs the same steps.
# Environment:
#   BIN  the test binary (default ./storagebench.test)
#   OUT  the results folder (default results/<id>, id this launch's run id)
#   STORAGEBENCH_TIMELINE, STORAGEBENCH_RENDEZVOUS  default to OUT/ and
#        OUT/rendezvous; the other STORAGEBENCH_ variables pass through.
#
# With torchrun of PyTorch 2 or later on PATH (one that takes
# --nproc-per-node), torchrun starts the ranks (it stops them all when one
# fails); without it (or with an older one, such as Debian's 1.13, whose
# --redirects and --tee fail), this script starts them itself with the
# variables torchrun gives its workers, waits for every one (a rank whose peer died
# ends with an error naming it), and names the ranks that failed. Either
# way each rank's stderr is in rank-<R>.err and the exit status is non-zero
# if a rank failed.
set -euo pipefail

prog=${0##*/}

die() {
	echo "$prog: $*" >&2
	exit 2
}

nproc=4
while (($# > 0)); do
	case $1 in
	-n)
		(($# >= 2)) || die "-n needs a number of ranks"
		nproc=$2
		shift 2
		;;
	-n*)
		nproc=${1#-n}
		shift
		;;
	--)
		shift
		break
		;;
	*) break ;;
	esac
done
[[ $nproc =~ ^[1-9][0-9]*$ ]] || die "-n $nproc: want a number of ranks, 1 or more"

BIN=${BIN:-./storagebench.test}
command -v "$BIN" >/dev/null || die "$BIN: no such executable; build it with: go test -c -o storagebench.test ./bench (or set BIN)"

# STORAGEBENCH_RANK and STORAGEBENCH_WORLD_SIZE come before torchrun's
# variables: set, every rank would get the same.
for v in STORAGEBENCH_RANK STORAGEBENCH_WORLD_SIZE; do
	[[ -z ${!v-} ]] || die "$v is set; it would override the rank torchrun gives each process: unset it"
done

# The run id (TORCHELASTIC_RUN_ID): new for every launch, as torchrun
# --standalone makes one, and the name of the results folder.
id=$(date -u +%Y%m%dT%H%M%SZ)-$$
OUT=${OUT:-results/$id}
mkdir -p "$OUT"
export STORAGEBENCH_TIMELINE=${STORAGEBENCH_TIMELINE:-$OUT/}
export STORAGEBENCH_RENDEZVOUS=${STORAGEBENCH_RENDEZVOUS:-$OUT/rendezvous}

pids=()

# stop ends the ranks (or torchrun, which ends its own) still running.
stop() {
	local pid
	for pid in ${pids[@]+"${pids[@]}"}; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	pids=()
}
trap stop EXIT
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap 'stop; exit 129' HUP

# show prints the last lines of a file, indented, to stderr.
show() {
	[[ -s $1 ]] || return 0
	echo "  $1:" >&2
	local line
	while IFS= read -r line; do
		echo "    $line" >&2
	done < <(tail -n 20 "$1")
}

if command -v torchrun >/dev/null 2>&1 && ! torchrun --help 2>/dev/null | grep -q -- '--nproc-per-node'; then
	echo "$prog: the torchrun on PATH predates PyTorch 2 (no --nproc-per-node); starting the ranks as torchrun would" >&2
elif command -v torchrun >/dev/null 2>&1; then
	# What --standalone does (a c10d store on a free local port), with
	# this launch's run id in place of a random one. --no-python runs the
	# binary itself; its stdout and stderr go to files under
	# --log-dir (<run id>_<random>/attempt_0/<local rank>/), stderr to the
	# console too.
	torchrun --nnodes=1 --nproc-per-node="$nproc" \
		--rdzv-backend=c10d --rdzv-endpoint=localhost:0 --rdzv-id="$id" \
		--max-restarts=0 --no-python \
		--log-dir="$OUT/torchrun" --redirects=3 --tee=2 \
		"$BIN" "$@" &
	pids=("$!")
	status=0
	wait "${pids[0]}" || status=$?
	pids=()
	# On one node the local rank is the rank.
	for dir in "$OUT/torchrun/${id}"_*/attempt_0; do
		[[ -d $dir ]] || continue
		for ((r = 0; r < nproc; r++)); do
			if [[ -f $dir/$r/stdout.log ]]; then
				cp "$dir/$r/stdout.log" "$OUT/rank-$r.txt"
			fi
			if [[ -f $dir/$r/stderr.log ]]; then
				cp "$dir/$r/stderr.log" "$OUT/rank-$r.err"
			fi
		done
	done
	if ((status != 0)); then
		echo "$prog: torchrun failed (exit $status); each rank's output is in $OUT/rank-<R>.txt and rank-<R>.err" >&2
		exit 1
	fi
	echo "$prog: $nproc ranks done; results in $OUT" >&2
	exit 0
fi

# The variables torchrun gives each worker of a one-node run (it also sets
# OMP_NUM_THREADS and NCCL's, which Go does not read). MASTER_PORT is only
# named: nothing listens on it.
for ((r = 0; r < nproc; r++)); do
	RANK=$r LOCAL_RANK=$r GROUP_RANK=0 ROLE_RANK=$r ROLE_NAME=default \
		WORLD_SIZE=$nproc LOCAL_WORLD_SIZE=$nproc GROUP_WORLD_SIZE=1 ROLE_WORLD_SIZE=$nproc \
		MASTER_ADDR=127.0.0.1 MASTER_PORT=${MASTER_PORT:-29500} \
		TORCHELASTIC_RUN_ID=$id TORCHELASTIC_RESTART_COUNT=0 TORCHELASTIC_MAX_RESTARTS=0 \
		TORCHELASTIC_USE_AGENT_STORE=False \
		"$BIN" "$@" >"$OUT/rank-$r.txt" 2>"$OUT/rank-$r.err" &
	pids[r]=$!
done

failed=() codes=()
for ((r = 0; r < nproc; r++)); do
	status=0
	wait "${pids[r]}" || status=$?
	if ((status != 0)); then
		failed+=("$r")
		codes+=("$status")
	fi
done
pids=()

if ((${#failed[@]} > 0)); then
	summary=
	for i in "${!failed[@]}"; do
		summary+="${summary:+, }rank ${failed[i]} (exit ${codes[i]})"
	done
	echo "$prog: ${#failed[@]} of $nproc ranks failed: $summary; the end of their output:" >&2
	for r in "${failed[@]}"; do
		show "$OUT/rank-$r.txt"
		show "$OUT/rank-$r.err"
	done
	exit 1
fi
echo "$prog: $nproc ranks done; results in $OUT" >&2
