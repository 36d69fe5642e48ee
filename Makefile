# storagebench: two commands do everything.
#   make bench   the hermetic benchmark matrix (no network, no credentials)
#   make test    go vet and the race-enabled tests
SHELL       := /bin/bash
.SHELLFLAGS := -o pipefail -c

GO        ?= go
BENCHTIME ?= 1s
COUNT     ?= 1
BENCH_OUT ?= bench.txt
PERF_OUT  ?= perf.txt

# Tests never consult instance metadata or the machine's AWS files.
TEST_ENV = AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

.PHONY: all build vet test fuzz bench bench-short perf clean

all: build test

build:
	$(GO) build ./...

vet:
	$(GO) vet ./...

test: vet
	$(TEST_ENV) $(GO) test -race -timeout 20m ./...

# The parsers of files from outside, the index and the S3 configuration,
# fuzzed for FUZZTIME each after their seeds: one go test per target, as
# -fuzz takes one target of one package. An input that fails is saved
# under the package's testdata/fuzz, where it becomes a seed. FUZZTIME is
# a count of inputs (a few seconds here), not a duration: Go 1.26's fuzzing
# coordinator can fail a target with "context deadline exceeded" when a
# duration runs out (go.dev/issue/75804), having found nothing.
FUZZTIME ?= 40000x
fuzz:
	$(TEST_ENV) $(GO) test -run '^$$' -fuzz '^FuzzParseIndex$$' -fuzztime $(FUZZTIME) ./dataset
	$(TEST_ENV) $(GO) test -run '^$$' -fuzz '^FuzzLoadConfig$$' -fuzztime $(FUZZTIME) ./dataset/s3blob

# The benchmark matrix on the embedded fakes, to stdout and $(BENCH_OUT),
# for benchstat: the raw baselines and decoding alone; then the loader,
# backends mem, local and fakes3 with no added latency over 2,000 items,
# and fakes3 under the s3 latency profile over 200 items; sync and async;
# 2 to 32 workers; batch 50 (the seed's sweep); TAR_ITEMS samples in tar
# shards of TAR_SHARD under s3, streamed (sync and async) and read by
# range (async), TAR_WORKERS workers, batch TAR_BATCH (every worker
# delivers the same whole batches an epoch: with few samples a worker,
# batches of 50 would drop most of each share). Each Load line runs at
# least BENCHTIME and is lengthened by the harness to whole rounds of
# batches covering its minimums (see README), so one go test runs them
# all. Then emulated training (BenchmarkTrain): ResNet-50 on 1 to 4 H100s
# from the seed's S3 (seed-s3: its latency and 5,500 GET/s a prefix),
# TRAIN_STEPS steps each, over an ImageNet-val-sized dataset of
# TRAIN_ITEMS keys and TRAIN_BODIES distinct bodies, 4 async workers of 80
# reads an accelerator (the loader that feeds 3 of them, see README), on
# mem and fakes3.
LOAD_WORKERS  ?= 2,4,8,16,32
TAR_ITEMS     ?= 600
TAR_SHARD     ?= 1MB
TAR_WORKERS   ?= 2,8
TAR_BATCH     ?= 10
TRAIN_ITEMS   ?= 50000
TRAIN_BODIES  ?= 2000
TRAIN_STEPS   ?= 20
ITEMS         ?= 2000
LATENCY_ITEMS ?= 200
GO_BENCH = $(GO) test -run '^$$' -count $(COUNT) -timeout 60m ./bench -bench
bench:
	rm -f $(BENCH_OUT)
	STORAGEBENCH_ITEMS=$(ITEMS) STORAGEBENCH_PROFILES=none \
		$(GO_BENCH) '^Benchmark(Raw|Decode)$$' -benchtime $(BENCHTIME) | tee -a $(BENCH_OUT)
	STORAGEBENCH_ITEMS=$(LATENCY_ITEMS) STORAGEBENCH_BACKENDS=fakes3 STORAGEBENCH_PROFILES=s3 \
		$(GO_BENCH) '^BenchmarkRaw$$' -benchtime $(BENCHTIME) | tee -a $(BENCH_OUT)
	STORAGEBENCH_ITEMS=$(ITEMS) STORAGEBENCH_BACKENDS=mem,local,fakes3 STORAGEBENCH_PROFILES=none STORAGEBENCH_WORKERS=$(LOAD_WORKERS) \
		$(GO_BENCH) '^BenchmarkLoad$$' -benchtime $(BENCHTIME) | tee -a $(BENCH_OUT)
	STORAGEBENCH_ITEMS=$(LATENCY_ITEMS) STORAGEBENCH_BACKENDS=fakes3 STORAGEBENCH_PROFILES=s3 STORAGEBENCH_WORKERS=$(LOAD_WORKERS) \
		$(GO_BENCH) '^BenchmarkLoad$$' -benchtime $(BENCHTIME) | tee -a $(BENCH_OUT)
	STORAGEBENCH_ITEMS=$(TAR_ITEMS) STORAGEBENCH_BACKENDS=fakes3 STORAGEBENCH_PROFILES=s3 STORAGEBENCH_FORMAT=tar STORAGEBENCH_SHARD=$(TAR_SHARD) \
	STORAGEBENCH_READ=stream STORAGEBENCH_WORKERS=$(TAR_WORKERS) STORAGEBENCH_BATCH=$(TAR_BATCH) \
		$(GO_BENCH) '^BenchmarkLoad$$' -benchtime $(BENCHTIME) | tee -a $(BENCH_OUT)
	STORAGEBENCH_ITEMS=$(TAR_ITEMS) STORAGEBENCH_BACKENDS=fakes3 STORAGEBENCH_PROFILES=s3 STORAGEBENCH_FORMAT=tar STORAGEBENCH_SHARD=$(TAR_SHARD) \
	STORAGEBENCH_READ=range STORAGEBENCH_MODES=async STORAGEBENCH_WORKERS=$(TAR_WORKERS) STORAGEBENCH_BATCH=$(TAR_BATCH) \
		$(GO_BENCH) '^BenchmarkLoad$$' -benchtime $(BENCHTIME) | tee -a $(BENCH_OUT)
	STORAGEBENCH_ITEMS=$(TRAIN_ITEMS) STORAGEBENCH_BODIES=$(TRAIN_BODIES) STORAGEBENCH_BACKENDS=mem,fakes3 STORAGEBENCH_PROFILES=seed-s3 \
	STORAGEBENCH_WORKLOADS=resnet50-h100 STORAGEBENCH_ACCEL=1,2,3,4 STORAGEBENCH_MODES=async STORAGEBENCH_WORKERS=4 STORAGEBENCH_FETCH=80 \
		$(GO_BENCH) '^BenchmarkTrain$$' -benchtime $(TRAIN_STEPS)x | tee -a $(BENCH_OUT)


# A smoke run of the matrix in one go, so that a broken benchmark cannot
# land: -short shortens the raw calibrations and marks the output "smoke:
# true"; a small dataset and small batches make every Load line a real,
# complete run (the harness sizes each to its minimums: a sync line under
# the s3 profile needs 12 rounds whatever the dataset), loose and in tar
# shards of TAR_SHARD (streamed; a real store in its own layout). Then emulated
# training on every backend, a short compute time, 1 and 2 accelerators,
# batches of 10.
SHORT_ITEMS ?= 200
bench-short:
	$(TEST_ENV) STORAGEBENCH_ITEMS=$(SHORT_ITEMS) STORAGEBENCH_BATCH=10 STORAGEBENCH_WORKERS=2,8 STORAGEBENCH_CONCURRENCY=1,16 \
	STORAGEBENCH_FORMAT=loose,tar STORAGEBENCH_SHARD=$(TAR_SHARD) \
		$(GO) test -short -run '^$$' -bench 'Raw|Load|Decode' -benchtime 50ms -timeout 20m ./bench
	$(TEST_ENV) STORAGEBENCH_WORKLOADS=compute-20ms STORAGEBENCH_ACCEL=1,2 STORAGEBENCH_MODES=async STORAGEBENCH_WORKERS=2 STORAGEBENCH_BATCH=10 \
		$(GO) test -short -run '^$$' -bench '^BenchmarkTrain$$' -benchtime 5x -timeout 20m ./bench

# The performance targets: the benchmarks that show them, appended to
# $(PERF_OUT), then each target's figure next to its threshold (numbered
# as in the README's Performance section). Load runs are sized by the
# harness (at least 1s, whole rounds); repeats are interleaved, so that a slow spell of the machine hits every
# configuration alike. Target 7 needs an S3 server: the MinIO that
# STORAGEBENCH_MINIO_* names, or one .ci/minio.sh builds and starts (about
# 3 minutes the first time). Target 10 installs fio from Debian's
# packages when missing; 11-12 are make layouts, 13 make parts. About 95
# minutes on 2 cores.
PERF_BENCH   = $(GO) test -run '^$$' -timeout 60m ./bench -bench
PERF_ITEM    = STORAGEBENCH_MODES=async STORAGEBENCH_WORKERS=2 STORAGEBENCH_SCHED=batch,item
PERF_REPEATS ?= 5
perf:
	rm -f $(PERF_OUT)
	@echo "# 1-3: item scheduling and hedging under s3 and seed-s3 latency, C = 100, 3 interleaved repeats" >&2
	for r in 1 2 3; do \
		STORAGEBENCH_BACKENDS=mem,local STORAGEBENCH_PROFILES=s3 $(PERF_ITEM) STORAGEBENCH_WINDOW=8C,4C STORAGEBENCH_HEDGE=off,p90 \
			$(PERF_BENCH) '^BenchmarkLoad$$' -benchtime 20000x | tee -a $(PERF_OUT) || exit 1; \
		STORAGEBENCH_BACKENDS=mem,local STORAGEBENCH_PROFILES=seed-s3 $(PERF_ITEM) STORAGEBENCH_WINDOW=4C \
			$(PERF_BENCH) '^BenchmarkLoad$$' -benchtime 6000x | tee -a $(PERF_OUT) || exit 1; \
	done
	@echo "# 4: fixed latency, up to 512 requests in flight, against the bound C/L, both schedulers" >&2
	STORAGEBENCH_BACKENDS=mem,local STORAGEBENCH_PROFILES=fixed-20ms STORAGEBENCH_MODES=async STORAGEBENCH_ITEMS=$(LATENCY_ITEMS) \
		STORAGEBENCH_WORKERS=1,8 STORAGEBENCH_FETCH=1,8,64 STORAGEBENCH_SCHED=batch,item \
		$(PERF_BENCH) '^BenchmarkLoad$$' | tee -a $(PERF_OUT)
	@echo "# 5, 8: loader against raw at equal concurrency, profile none; overhead and allocations on mem; $(PERF_REPEATS) interleaved repeats" >&2
	for r in $$(seq $(PERF_REPEATS)); do \
		STORAGEBENCH_BACKENDS=mem,local,fakes3 STORAGEBENCH_PROFILES=none STORAGEBENCH_WORKERS=2,8,32 STORAGEBENCH_SCHED=batch,item \
			$(PERF_BENCH) '^BenchmarkLoad$$' | tee -a $(PERF_OUT) || exit 1; \
	done
	@echo "# 6: items held and peak RSS over 100,000 and 1,000,000 items, both schedulers" >&2
	for n in 100000 1000000; do \
		STORAGEBENCH_BACKENDS=mem STORAGEBENCH_ITEMS=256 STORAGEBENCH_MODES=async STORAGEBENCH_WORKERS=4 STORAGEBENCH_SCHED=batch,item \
			$(PERF_BENCH) '^BenchmarkLoad$$' -benchtime $${n}x | tee -a $(PERF_OUT) || exit 1; \
	done
	@echo "# 7: S3 GETs, ours against minio-go, from MinIO on loopback, 3 interleaved rounds" >&2
	if [[ -z "$$STORAGEBENCH_MINIO_ENDPOINT" ]]; then \
		exports=$$(bash .ci/minio.sh start) || exit 1; eval "$$exports"; trap 'bash .ci/minio.sh stop' EXIT; \
	fi; \
	for r in 1 2 3; do \
		$(TEST_ENV) $(GO) test -run '^$$' -bench '^BenchmarkS3Get$$' ./dataset/s3blob | tee -a $(PERF_OUT) || exit 1; \
	done; \
	echo "# 7 (issue): 2,500 objects from MinIO, C = 100, 6% of bodies stalling, then 6% trickling at 64 KiB/s, each run within a minute" >&2; \
	$(TEST_ENV) $(GO) test -count=1 -run '^TestStallsAndTricklesFromMinIO$$' -v ./dataset/s3blob >&2
	@echo "# 9: the seed's S3 latency; decoding alone" >&2
	STORAGEBENCH_BACKENDS=fakes3,local STORAGEBENCH_PROFILES=seed-s3 STORAGEBENCH_MODES=async STORAGEBENCH_WORKERS=32 \
		STORAGEBENCH_DECODE=none,jpeg $(PERF_BENCH) '^BenchmarkLoad$$' | tee -a $(PERF_OUT)
	$(PERF_BENCH) '^BenchmarkDecode$$' -benchtime 10s | tee -a $(PERF_OUT)
	STORAGEBENCH_BACKENDS=fakes3 STORAGEBENCH_PROFILES=seed-s3 STORAGEBENCH_MODES=sync STORAGEBENCH_WORKERS=2 STORAGEBENCH_ITEMS=200 \
		$(PERF_BENCH) '^BenchmarkLoad$$' | tee -a $(PERF_OUT)
	@echo "# 10: cold reads of a scratch folder of 2,000 images, warm, cold and direct, against fio --direct=1; 3 interleaved rounds" >&2
	GO='$(GO)' OUT=$(PERF_OUT) bash bench/cold.sh
	@echo "# 11-12: H100s training ResNet-50 fed from one prefix, loose, in 64 MB tar shards streamed and read by range, under s3 and seed-s3 (see make layouts)" >&2
	$(MAKE) --no-print-directory layouts LAYOUTS_OUT=$(PERF_OUT).layouts
	cat $(PERF_OUT).layouts >> $(PERF_OUT)
	@echo "# 13: unet3d-h100 under s3 on mem, items in 8 MB parts and whole (see make parts)" >&2
	$(MAKE) --no-print-directory parts PARTS_OUT=$(PERF_OUT).parts
	cat $(PERF_OUT).parts >> $(PERF_OUT)
	@echo "# 14: a streamed sample's CPU against a loose one's, mem, profile none, 20,000 samples (39 shards of 64 MB: 8 workers take at least 4 each); 3 interleaved repeats" >&2
	for r in 1 2 3; do \
		STORAGEBENCH_BACKENDS=mem STORAGEBENCH_PROFILES=none STORAGEBENCH_ITEMS=20000 STORAGEBENCH_FORMAT=loose,tar STORAGEBENCH_SHARD=64MB STORAGEBENCH_WORKERS=2,8 \
			$(PERF_BENCH) '^BenchmarkLoad$$' | tee -a $(PERF_OUT) || exit 1; \
	done
	@echo "# 15: peak RSS of streams of tar shards over 100,000 and 1,000,000 samples, mem and fakes3" >&2
	for n in 100000 1000000; do \
		STORAGEBENCH_BACKENDS=mem,fakes3 STORAGEBENCH_PROFILES=none STORAGEBENCH_ITEMS=2000 STORAGEBENCH_FORMAT=tar STORAGEBENCH_SHARD=4MB STORAGEBENCH_SHUFFLE=0,1000 \
			STORAGEBENCH_MODES=async STORAGEBENCH_WORKERS=4 STORAGEBENCH_FETCH=2 \
			$(PERF_BENCH) '^BenchmarkLoad$$' -benchtime $${n}x | tee -a $(PERF_OUT) || exit 1; \
	done
	$(GO) run ./cmd/storagebench targets $(PERF_OUT)

# Large objects in parts (README: Large objects in parts): storagebench
# feed, unet3d-h100 (146.6 MB samples) on one H100 from the emulated S3
# on mem, one loader (async, 2 workers of 32 reads, 3 batches each) with
# items in 8 MB ranged parts and whole, PARTS_RUNS interleaved runs of
# PARTS_STEPS steps each; then (README: Shards in parts) BenchmarkLoad
# under s3 on mem, 20,000 samples in tar shards of 64 MB and of 1 GB, one
# async worker of 8 reads, each shard size streamed whole and in 8 MB
# parts, PARTS_RUNS interleaved runs. Results in $(PARTS_OUT). About 8
# minutes on 2 cores, 7 GiB of memory.
PARTS_RUNS  ?= 3
PARTS_STEPS ?= 60
PARTS_OUT   ?= parts.txt
.PHONY: parts
parts:
	rm -f $(PARTS_OUT)
	for r in $$(seq $(PARTS_RUNS)); do \
		$(GO) run ./cmd/storagebench feed -backend mem -profile s3 -workload unet3d-h100 -items 1000 -bodies 14 -steps $(PARTS_STEPS) -max 1 \
			-loader mode=async/workers=2/fetch=32/prefetch=3/part=8MB \
			-loader mode=async/workers=2/fetch=32/prefetch=3 \
			-o $(PARTS_OUT).run || exit 1; \
		cat $(PARTS_OUT).run >> $(PARTS_OUT); \
	done
	rm -f $(PARTS_OUT).run
	for r in $$(seq $(PARTS_RUNS)); do \
		STORAGEBENCH_BACKENDS=mem STORAGEBENCH_PROFILES=s3 STORAGEBENCH_FORMAT=tar STORAGEBENCH_SHARD=64MB,1GB STORAGEBENCH_PART=0,8MB \
		STORAGEBENCH_MODES=async STORAGEBENCH_WORKERS=1 STORAGEBENCH_FETCH=8 STORAGEBENCH_ITEMS=20000 \
			$(PERF_BENCH) '^BenchmarkLoad$$' | tee -a $(PARTS_OUT) || exit 1; \
	done

# What sharding buys (README: Tar shards): storagebench feed, ResNet-50
# on H100s from one prefix of the emulated S3 on mem (LAYOUT_ITEMS keys,
# LAYOUT_BODIES bodies), for each profile of LAYOUT_PROFILES, with the
# samples loose (async, 4 workers of 80 reads), in 64 MB tar shards
# streamed (sync, 4 workers: a stream each) and read by range (as
# loose). Results in $(LAYOUTS_OUT), one feed file a profile beside it.
# About 15 minutes on 2 cores.
LAYOUT_ITEMS    ?= 200000
LAYOUT_BODIES   ?= 2000
LAYOUT_PROFILES ?= s3 seed-s3
LAYOUT_STEPS    ?= 20
LAYOUTS_OUT     ?= layouts.txt
.PHONY: layouts
layouts:
	rm -f $(LAYOUTS_OUT)
	for p in $(LAYOUT_PROFILES); do \
		$(GO) run ./cmd/storagebench feed -backend mem -profile $$p -items $(LAYOUT_ITEMS) -bodies $(LAYOUT_BODIES) -steps $(LAYOUT_STEPS) -max 32 \
			-loader mode=async/workers=4/fetch=80 \
			-loader format=tar/shard=64MB/read=stream/mode=sync/workers=4 \
			-loader format=tar/shard=64MB/read=range/mode=async/workers=4/fetch=80 \
			-o $(LAYOUTS_OUT).$$p || exit 1; \
		cat $(LAYOUTS_OUT).$$p >> $(LAYOUTS_OUT); \
	done

# Target 10 alone: cold reads of a scratch folder (COLD_DIR, on a disk;
# 2,000 images written there by storagebench gen) in each cache setting,
# against fio --direct=1 on the same files (installed from Debian's
# packages when missing), 3 interleaved rounds, into $(COLD_OUT); then the
# targets they show. About 2 minutes on 2 cores.
COLD_OUT ?= cold.txt
.PHONY: cold
cold:
	rm -f $(COLD_OUT)
	GO='$(GO)' OUT=$(COLD_OUT) bash bench/cold.sh
	$(GO) run ./cmd/storagebench targets $(COLD_OUT) | grep -E '^(target|10 )'

# PyTorch beside our loader (README: PyTorch beside our loader): for each
# profile:items of PYTORCH_PROFILES, storagebench serve emulates S3 and
# BenchmarkLoad (backend=s3) and pytorch/loadbench.py (PyTorch's
# DataLoader and boto3, Debian's python3-torch and python3-boto3,
# installed when missing) read it in PYTORCH_MODES at PYTORCH_WORKERS
# workers and batch PYTORCH_BATCH, alternating, COUNT rounds; each
# client's run on a server of its own, which must have served exactly the
# GETs and bytes the client counted. Results in $(PYTORCH_OUT) (benchstat
# -col /client), what the servers saw in $(PYTORCH_SERVED). About 8
# minutes on 2 cores.
PYTORCH_PROFILES ?= s3:400 seed-s3:200
PYTORCH_MODES    ?= sync,async
PYTORCH_WORKERS  ?= 2,4,8
PYTORCH_BATCH    ?= 16
PYTORCH_OUT      ?= pytorch.txt
PYTORCH_SERVED   ?= pytorch-served.txt
.PHONY: pytorch
pytorch:
	PROFILES='$(PYTORCH_PROFILES)' MODES=$(PYTORCH_MODES) WORKERS=$(PYTORCH_WORKERS) BATCH=$(PYTORCH_BATCH) \
	BENCHTIME=$(BENCHTIME) COUNT=$(COUNT) OUT=$(PYTORCH_OUT) SERVED=$(PYTORCH_SERVED) bash bench/pytorch.sh

# The working tree against BASE, a git ref (HEAD: the uncommitted
# changes), sized for a CI job: bench/compare.sh checks BASE out in a
# temporary worktree, builds each side's benchmarks once, then runs each of
# COMPARE_CASES (BACKEND/PROFILE/MODE/WORKERS, batch 50, over ITEMS items
# under profile none and LATENCY_ITEMS under another, for the count of
# whole rounds "storagebench count" gives, at least FAST_ITEMS on mem and
# local, so that a BASE from before the harness sized its runs gets the
# same count) on both sides COMPARE_COUNT times (COUNT, when given on the
# command line), interleaved, each side first in every other round; results
# in $(COMPARE_OUT)/base.txt and head.txt, then go tool benchstat
# $(COMPARE_BENCHSTAT) base=... head=... (by default items/s, efficiency
# and getitem p99; COMPARE_BENCHSTAT= for every metric), also in
# $(COMPARE_OUT)/benchstat.txt.
# Each side gets only the STORAGEBENCH_ variables its source names: an
# exported one that BASE does not know is dropped for BASE, with a line on
# stderr. About 10 minutes on 2 cores.
BASE              ?= HEAD
FAST_ITEMS        ?= 60000
COMPARE_CASES     ?= mem/none/sync/2 mem/none/async/8 fakes3/none/sync/2 fakes3/s3/async/2 fakes3/s3/async/8
COMPARE_COUNT     ?= $(if $(filter command line,$(origin COUNT)),$(COUNT),6)
COMPARE_OUT       ?= compare
COMPARE_BENCHSTAT ?= -ignore untimed-levels,page-cache -filter '.unit:(items/s OR efficiency OR getitem-p99-ns)'
.PHONY: compare
compare:
	BASE='$(BASE)' COMPARE_CASES='$(COMPARE_CASES)' COMPARE_COUNT='$(COMPARE_COUNT)' COMPARE_OUT='$(COMPARE_OUT)' \
		COMPARE_ITEMS='$(ITEMS)' COMPARE_LATENCY_ITEMS='$(LATENCY_ITEMS)' COMPARE_FAST_ITEMS='$(FAST_ITEMS)' GO='$(GO)' \
		bash bench/compare.sh $(COMPARE_BENCHSTAT)

clean:
	rm -f $(BENCH_OUT) $(PERF_OUT) $(COLD_OUT) chart*.png report.html
	rm -rf charts $(COMPARE_OUT)
