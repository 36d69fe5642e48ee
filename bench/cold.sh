#!/usr/bin/env bash
# Cold reads of a scratch folder, against fio on the same files.
#
# Writes COLD_ITEMS synthetic images (storagebench gen) into COLD_DIR, a
# folder on a disk (tmpfs is refused: its page cache is its storage),
# then, COLD_REPEATS times, interleaved, appends to OUT:
#   - BenchmarkRaw (concurrency 1 and 8) and BenchmarkLoad (sync, 1 and 8
#     workers) of backend=scratch in each cache setting, warm, cold and
#     direct, each Load line sized by the harness (-benchtime 1s);
#   - BenchmarkFio/backend=scratch/cache=direct/concurrency=1: fio
#     --direct=1, one job at queue depth 1 (psync), reading the same files
#     one after another in aligned blocks of 4 KiB to 1 MiB, written as a
#     benchmark line whose items/s is files a second. (fio reads a file's
#     whole blocks only: the last partial 4 KiB block of each is left out,
#     about 2% of the bytes for ImageNet-sized files; its requests/item
#     says how many requests a file took.)
# fio comes from Debian's packages, installed when missing.
set -euo pipefail
GO=${GO:-go}
OUT=${OUT:-cold.txt}
DIR=${COLD_DIR:-.cold-scratch}
ITEMS=${COLD_ITEMS:-2000}
REPEATS=${COLD_REPEATS:-3}

if ! command -v fio >/dev/null; then
	if ! command -v apt-get >/dev/null; then
		echo "cold.sh: fio is not installed and there is no apt-get to install it" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends fio >/dev/null ||
		{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends fio >/dev/null; }
fi

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd) # go test runs in the package's folder
if [[ $(stat -f -c %T "$DIR") == tmpfs ]]; then
	echo "cold.sh: COLD_DIR=$DIR is on tmpfs, whose page cache is its storage: give a folder on a disk" >&2
	exit 1
fi
count() { find "$DIR/val" -type f 2>/dev/null | wc -l; }
if [[ ! -f "$DIR/index.json" ]] || [[ $(count) != "$ITEMS" ]]; then
	"$GO" run ./cmd/storagebench gen -force -n "$ITEMS" "$DIR" >&2
fi
files=$(count)

for r in $(seq "$REPEATS"); do
	echo "# cold reads, round $r of $REPEATS" >&2
	STORAGEBENCH_SCRATCH_ROOT="$DIR" STORAGEBENCH_SCRATCH_INDEX="$DIR/index.json" STORAGEBENCH_BACKENDS=scratch \
	STORAGEBENCH_CACHE=warm,cold,direct STORAGEBENCH_MODES=sync STORAGEBENCH_WORKERS=1,8 STORAGEBENCH_CONCURRENCY=1,8 \
		"$GO" test -run '^$' -bench '^Benchmark(Raw|Load)$' -benchtime 1s -timeout 30m ./bench | tee -a "$OUT"
	# fio's terse output: field 6 is the KiB read, 8 the requests a
	# second, 9 the run time in ms.
	fio --name=cold --opendir="$DIR/val" --rw=read --bsrange=4k-1m --direct=1 --ioengine=psync --iodepth=1 \
		--numjobs=1 --file_service_type=sequential --output-format=terse --terse-version=3 |
		awk -F';' -v files="$files" -v procs="$(nproc)" 'NF > 9 {
			if ($9 <= 0) { print "cold.sh: fio read nothing" > "/dev/stderr"; exit 1 }
			s = $9 / 1000
			printf "BenchmarkFio/backend=scratch/cache=direct/concurrency=1-%d \t%d\t%.0f ns/op\t%.2f MB/s\t%.1f items/s\t%.2f requests/item\n", procs, files, s * 1e9 / files, $6 * 1024 / 1e6 / s, files / s, $8 * s / files
		}' | tee -a "$OUT"
done
