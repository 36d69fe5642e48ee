#!/usr/bin/env bash
# PyTorch beside our loader on one emulated store (make pytorch).
#
# For each profile:items of PROFILES, "storagebench serve" emulates S3
# with that many synthetic items; BenchmarkLoad (backend=s3) reads it with
# our loader, every case in one run, then pytorch/loadbench.py with
# PyTorch's DataLoader and boto3, case by case, named alike plus
# client=torch, for at least the items BenchmarkLoad timed for the case
# (storagebench count: whole epochs, the least BenchmarkLoad times);
# COUNT rounds of both. Each run gets a
# server of its own, which writes what it saw (-o, named as the client's
# lines) and logs every request: the run fails unless the server served
# exactly the GETs and bytes the client counted (ours: its own request
# log, matched request for request; PyTorch's: the objects the harness
# read whole, against the GETs the server answered 200).
# Results go to OUT (benchstat -col /client puts the two side by side) and
# what the servers saw to SERVED.
#
# Variables: PROFILES ("s3:400 seed-s3:200"), MODES (sync,async), WORKERS
# (2,4,8), BATCH (16), BENCHTIME (1s, our runs' least time), COUNT (1
# round), OUT (pytorch.txt), SERVED (pytorch-served.txt), PYTHON
# (/usr/bin/python3, Debian's, where python3-torch and python3-boto3
# install; installed when missing and apt-get can).
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILES=${PROFILES:-"s3:400 seed-s3:200"}
MODES=${MODES:-sync,async}
WORKERS=${WORKERS:-2,4,8}
BATCH=${BATCH:-16}
BENCHTIME=${BENCHTIME:-1s}
COUNT=${COUNT:-1}
OUT=${OUT:-pytorch.txt}
SERVED=${SERVED:-pytorch-served.txt}
PYTHON=${PYTHON:-/usr/bin/python3}

if ! "$PYTHON" -c 'import torch, boto3' 2>/dev/null; then
	if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
		echo "pytorch: installing Debian's python3-torch and python3-boto3" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -q --no-install-recommends python3-torch python3-boto3 >/dev/null ||
			{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends python3-torch python3-boto3 >/dev/null; }
	fi
	"$PYTHON" -c 'import torch, boto3' || {
		echo "pytorch: $PYTHON cannot import torch and boto3 (Debian: apt-get install python3-torch python3-boto3; or set PYTHON)" >&2
		exit 1
	}
fi

work=$(mktemp -d)
servepid=
cleanup() {
	[ -n "$servepid" ] && kill "$servepid" 2>/dev/null && wait "$servepid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/storagebench" ./cmd/storagebench
go test -c -o "$work/bench.test" ./bench
rm -f "$OUT" "$SERVED"

# serve_start PROFILE ITEMS LABEL: a server of its own, its configuration
# in $work/s3.json once it listens, every request it serves after its fill
# logged to $work/served.csv.gz.
serve_start() {
	rm -f "$work/s3.json" "$work/serve.out"
	"$work/storagebench" serve -addr 127.0.0.1:0 -profile "$1" -n "$2" -config-out "$work/s3.json" \
		-o "$work/served.txt" -label "$3" -request-log "$work/served.csv.gz" >"$work/serve.out" 2>"$work/serve.err" &
	servepid=$!
	for _ in $(seq 600); do
		grep -q '^config ' "$work/serve.out" 2>/dev/null && return 0
		kill -0 "$servepid" 2>/dev/null || break
		sleep 0.1
	done
	echo "pytorch: serve did not start:" >&2
	cat "$work/serve.err" >&2
	exit 1
}

# serve_stop: stop the server; its lines join SERVED.
serve_stop() {
	kill -INT "$servepid"
	wait "$servepid"
	servepid=
	cat "$work/served.txt" >>"$SERVED"
}

for round in $(seq "$COUNT"); do
	for pn in $PROFILES; do
		profile=${pn%%:*} items=${pn#*:}
		echo "# round $round, profile $profile, $items items: our loader" >&2
		serve_start "$profile" "$items" client=go
		STORAGEBENCH_S3_CONFIG="$work/s3.json" STORAGEBENCH_BACKENDS=s3 STORAGEBENCH_MODES="$MODES" \
		STORAGEBENCH_WORKERS="$WORKERS" STORAGEBENCH_BATCH="$BATCH" STORAGEBENCH_REQUEST_LOG="$work/go-requests.csv.gz" \
			"$work/bench.test" -test.run '^$' -test.bench '^BenchmarkLoad$' -test.benchtime "$BENCHTIME" \
			-test.timeout 60m | tee "$work/go.txt" | tee -a "$OUT"
		serve_stop
		# Request for request: every GET the client made, the server
		# served, with the same bytes, but those the loader abandoned
		# when its run ended.
		"$work/storagebench" requests -server "$work/served.csv.gz" "$work/go-requests.csv.gz" >&2

		IFS=, read -ra modes <<<"$MODES"
		IFS=, read -ra workers <<<"$WORKERS"
		for mode in "${modes[@]}"; do
			for w in "${workers[@]}"; do
				echo "# round $round, profile $profile: PyTorch, mode=$mode/workers=$w/batch=$BATCH" >&2
				# At least the items BenchmarkLoad's harness times for
				# the case: whole epochs, as ours.
				least=$("$work/storagebench" count -items "$items" "Load/backend=s3/profile=$profile/mode=$mode/workers=$w/batch=$BATCH")
				serve_start "$profile" "$items" "mode=$mode/workers=$w/batch=$BATCH/client=torch"
				"$PYTHON" pytorch/loadbench.py -s3-config "$work/s3.json" -modes "$mode" -workers "$w" -batch "$BATCH" \
					-benchtime "$least" -header-from "$work/go.txt" 2>"$work/torch.err" | tee -a "$OUT" || {
					cat "$work/torch.err" >&2
					exit 1
				}
				serve_stop
				client=$(sed -n 's/^loadbench: client requests: \([0-9]*\) GetObject, \([0-9]*\) bytes.*/\1 \2/p' "$work/torch.err")
				served=$("$work/storagebench" requests -gets "$work/served.csv.gz")
				if [ "$client" != "$served" ]; then
					echo "pytorch: PyTorch, $profile, mode=$mode/workers=$w: the store served $served (GETs, bytes), the client counted $client" >&2
					exit 1
				fi
				echo "pytorch: PyTorch, $profile, mode=$mode/workers=$w: the store served exactly the client's $client (GETs, bytes)" >&2
			done
		done
	done
done

echo "# our loader (client blank) and PyTorch (client=torch) on the same emulated S3" >&2
go tool benchstat -col /client -ignore torch-version,boto3-version,python-version \
	-filter '.unit:(items/s OR cpu-ns/item OR getitem-mean-ns)' "$OUT"
echo "# what the store saw: requests in flight, PyTorch's runs case by case, ours all cases of a profile" >&2
go tool benchstat -filter '.unit:(inflight-mean OR inflight-p50 OR gets/s OR cpu-ns/request)' "$SERVED"
