#!/usr/bin/env bash
# loadtime.sh W MODE ITEMS [BATCH [MIN]]: the -benchtime of a BenchmarkLoad
# run with W workers in MODE over a dataset of ITEMS items, batch BATCH
# (50), reading at least MIN items (0):
# a whole number of rounds (a round is one batch from each worker,
# W x BATCH items), so that the run ends on the same phase of the loader's
# cycle it started on and its rate is exact; at least 12 rounds in sync
# mode and 25 in async mode, where a batch's fetch spans about two rounds,
# so that every line covers 10 batch periods; and at least 3 epochs, so
# that every level has a whole epoch to time (see bench.RunLoad). MIN
# lengthens runs on fast backends, whose rate is otherwise taken over a few
# tens of milliseconds.
set -euo pipefail
if [[ $# -lt 3 || $# -gt 5 ]]; then
	echo "usage: loadtime.sh WORKERS MODE ITEMS [BATCH [MIN]]" >&2
	exit 2
fi
w=$1 mode=$2 items=$3 batch=${4:-50} least=${5:-0}
case $mode in
sync) rounds=12 ;;
async) rounds=25 ;;
*) echo "loadtime.sh: unknown mode \"$mode\", want sync or async" >&2; exit 2 ;;
esac
round=$((w * batch))
n=$((round * rounds))
least=$((least > 3 * items ? least : 3 * items))
if ((n < least)); then
	n=$(((least + round - 1) / round * round))
fi
echo "${n}x"
