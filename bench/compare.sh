#!/usr/bin/env bash
# compare.sh [BENCHSTAT-FLAGS...]: runs the same Load benchmarks on the
# commit BASE and on the working tree (head), interleaved, and prints
# "go tool benchstat [BENCHSTAT-FLAGS] base=OUT/base.txt head=OUT/head.txt".
# `make compare` runs it (see the Makefile); it reads its settings from the
# environment:
#
#   BASE                   a git ref: checked out, detached, in a temporary
#                          worktree that is removed on exit
#   COMPARE_CASES          Load lines as BACKEND/PROFILE/MODE/WORKERS, e.g.
#                          "mem/none/sync/2 fakes3/s3/async/8"; BACKEND is
#                          mem, local or fakes3; batch 50
#   COMPARE_COUNT          rounds: each round runs every case once on each
#                          side, base first in odd rounds, head first in even
#                          ones, case by case
#   COMPARE_OUT            folder for base.txt, head.txt and benchstat.txt
#   COMPARE_ITEMS          items in the dataset under profile none
#   COMPARE_LATENCY_ITEMS  items in the dataset under any other profile
#   COMPARE_FAST_ITEMS     the least a case reads on mem and local
#   GO                     the go command (go)
#
# Each case runs as its own process on each side, with -benchtime a count
# of whole rounds from head's `storagebench count` (for both sides: a base
# from before the benchmarks sized their own runs needs one), so results
# pair with make bench's too. Each side's
# test binary is built once. Each process gets only the STORAGEBENCH_
# variables that side's Go source names (a name, or a NAME_* pattern): the
# case's BACKENDS, PROFILES, MODES, WORKERS and ITEMS, and those exported by
# the caller, which pass unchanged to head and are dropped for base, with a
# line on stderr, when base does not know them. Exported values of the
# case's five variables are ignored. The script adds nothing to benchmark
# names: new name keys appear only when set, so results from before and
# after a feature still pair. Progress goes to stdout, results to the files.
set -euo pipefail

die() { echo "compare.sh: $*" >&2; exit 2; }
for v in BASE COMPARE_CASES COMPARE_COUNT COMPARE_OUT COMPARE_ITEMS COMPARE_LATENCY_ITEMS COMPARE_FAST_ITEMS; do
	[[ -n ${!v:-} ]] || die "$v is not set (make compare sets it; see the Makefile)"
done
[[ $COMPARE_COUNT =~ ^[1-9][0-9]*$ ]] || die "COMPARE_COUNT=$COMPARE_COUNT is not a positive integer"
go=${GO:-go}

# The variables the caller exported, taken out of this script's environment
# so that no process it starts sees one it was not given.
exported=()
for name in $(compgen -e); do
	if [[ $name == STORAGEBENCH_* ]]; then
		exported+=("$name=${!name}")
		unset "$name"
	fi
done
case_vars=(STORAGEBENCH_BACKENDS STORAGEBENCH_PROFILES STORAGEBENCH_MODES STORAGEBENCH_WORKERS STORAGEBENCH_ITEMS)

mkdir -p "$COMPARE_OUT"
out=$(cd "$COMPARE_OUT" && pwd)
cd "$(dirname "$0")/.."
head=$(pwd)

# Every case, checked before anything is built: backend, profile, mode,
# workers, the dataset's items and the -benchtime.
read -ra cases -d '' <<<"$COMPARE_CASES" || true
((${#cases[@]} > 0)) || die "COMPARE_CASES is empty"
declare -A items benchtime
for c in "${cases[@]}"; do
	IFS=/ read -r backend profile mode workers extra <<<"$c"
	[[ -z ${extra:-} && -n $workers ]] || die "case \"$c\": want BACKEND/PROFILE/MODE/WORKERS"
	[[ $backend =~ ^(mem|local|fakes3)$ ]] || die "case \"$c\": backend \"$backend\" is not mem, local or fakes3"
	n=$COMPARE_ITEMS least=0
	[[ $profile == none ]] || n=$COMPARE_LATENCY_ITEMS
	[[ $backend == fakes3 ]] || least=$COMPARE_FAST_ITEMS
	items[$c]=$n
	# The Go code checks the rest of the case and sizes its run.
	benchtime[$c]=$("$go" run ./cmd/storagebench count -items "$n" -least "$least" \
		"Load/backend=$backend/profile=$profile/mode=$mode/workers=$workers/batch=50") || die "case \"$c\": storagebench count refused it"
done

sha=$(git rev-parse --verify --quiet "$BASE^{commit}") || die "BASE=$BASE is not a commit in this repository (for a branch of the remote, fetch it first: git fetch origin BRANCH)"
head_sha=$(git rev-parse --short HEAD)
dirty=
[[ -z $(git status --porcelain --untracked-files=no) ]] || dirty=", with uncommitted changes"
echo "compare: base is $BASE ($(git rev-parse --short "$sha")); head is the working tree ($head_sha$dirty)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/storagebench-compare.XXXXXX")
cleanup() {
	git -C "$head" worktree remove --force "$tmp/base" 2>/dev/null || true
	rm -rf "$tmp"
	git -C "$head" worktree prune 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
git worktree add --quiet --detach "$tmp/base" "$sha"
declare -A tree=([base]=$tmp/base [head]=$head)

# names SIDE: the STORAGEBENCH_ names and NAME_* patterns in SIDE's Go
# source, tests left out (they name misspelled variables on purpose), one
# a line.
names() {
	grep -rhoE --include='*.go' --exclude='*_test.go' --exclude-dir=.git 'STORAGEBENCH_[A-Z0-9_]+\*?' "${tree[$1]}" | sort -u || true
}
# knows SIDE NAME: whether SIDE's source names NAME.
knows() {
	local p
	while read -r p; do
		[[ $p == "$2" || $p == *'*' && $2 == "${p%'*'}"* ]] && return 0
	done <<<"${known[$1]}"
	return 1
}
declare -A known=([base]=$(names base) [head]=$(names head))

# Each side's fixed environment: the exported variables it gets.
base_env=() head_env=()
for kv in "${exported[@]}"; do
	name=${kv%%=*}
	if [[ " ${case_vars[*]} " == *" $name "* ]]; then
		echo "compare: $name is set by each case; the exported value is ignored" >&2
		continue
	fi
	head_env+=("$kv")
	if knows base "$name"; then
		base_env+=("$kv")
	else
		echo "compare: $name is not a variable of base ($BASE): not set for base" >&2
	fi
done
for name in "${case_vars[@]}"; do
	knows base "$name" || echo "compare: $name is not a variable of base ($BASE): not set for base" >&2
done

# bench SIDE CASE ARGS...: runs SIDE's test binary in its bench folder with
# the side's environment and the case's variables that the side knows.
bench() {
	local side=$1 c=$2 backend profile mode workers kv
	shift 2
	IFS=/ read -r backend profile mode workers <<<"$c"
	local -n fixed=${side}_env
	local vars=("${fixed[@]}")
	for kv in "STORAGEBENCH_BACKENDS=$backend" "STORAGEBENCH_PROFILES=$profile" "STORAGEBENCH_MODES=$mode" \
		"STORAGEBENCH_WORKERS=$workers" "STORAGEBENCH_ITEMS=${items[$c]}"; do
		if knows "$side" "${kv%%=*}"; then
			vars+=("$kv")
		fi
	done
	(cd "${tree[$side]}/bench" && env "${vars[@]}" "$tmp/$side.test" "$@")
}

for side in head base; do
	echo "compare: building $side's benchmarks"
	(cd "${tree[$side]}" && "$go" test -c -o "$tmp/$side.test" ./bench) || die "building $side's benchmarks in ${tree[$side]} failed"
	# The binary checks its environment before running anything (since the
	# table of variables; older ones run with what they get).
	for c in "${cases[@]}"; do
		bench "$side" "$c" -test.run '^$' -test.bench '^$' >"$tmp/check" 2>&1 ||
			die "$side's benchmarks refuse the environment of case $c: $(cat "$tmp/check")"
	done
done

rm -f "$out/base.txt" "$out/head.txt" "$out/benchstat.txt"
total=$((COMPARE_COUNT * ${#cases[@]} * 2)) done=0 start=$SECONDS
for ((i = 1; i <= COMPARE_COUNT; i++)); do
	order=(base head)
	((i % 2)) || order=(head base)
	for c in "${cases[@]}"; do
		for side in "${order[@]}"; do
			t=$SECONDS
			bench "$side" "$c" -test.run '^$' -test.bench '^BenchmarkLoad$' -test.benchtime "${benchtime[$c]}" >>"$out/$side.txt" || {
				status=$?
				((status <= 128)) || exit "$status" # a signal: stop, say nothing
				die "round $i, $side, case $c failed (-benchtime ${benchtime[$c]}); its output is in $out/$side.txt"
			}
			done=$((done + 1))
			printf 'compare: [%d/%d] round %d, %-4s %-20s -benchtime %-7s %3ds (%dm%02ds in all)\n' \
				"$done" "$total" "$i" "$side" "$c" "${benchtime[$c]}" $((SECONDS - t)) $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60))
		done
	done
done

"$go" tool benchstat "$@" base="$out/base.txt" head="$out/head.txt" | tee "$out/benchstat.txt"
