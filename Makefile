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

.PHONY: all build vet test bench bench-short perf clean

all: build test

build:
	$(GO) build ./...

vet:
	$(GO) vet ./...

test: vet
	$(TEST_ENV) $(GO) test -race -timeout 20m ./...

# The default matrix: backends mem, local and fakes3, profile none, sync and
# async, 2 to 32 workers, batch 50; raw baselines and decoding alone. The
# results go to stdout and to $(BENCH_OUT), for benchstat.
bench:
	$(GO) test -run '^$$' -bench 'Raw|Load|Decode' -benchtime $(BENCHTIME) -count $(COUNT) -timeout 60m ./bench | tee $(BENCH_OUT)

# A smoke run of the same matrix, so that a broken benchmark cannot land.
bench-short:
	$(TEST_ENV) $(GO) test -short -run '^$$' -bench 'Raw|Load|Decode' -benchtime 100x -timeout 20m ./bench

# The performance targets: the benchmarks that show them, appended to
# $(PERF_OUT), then each target's figure next to its threshold.
PERF_BENCH = $(GO) test -run '^$$' -timeout 60m ./bench -bench
perf:
	rm -f $(PERF_OUT)
	@echo "# 1, 3: loader against raw at equal concurrency; overhead and allocations on mem" >&2
	STORAGEBENCH_BACKENDS=mem,local,fakes3 STORAGEBENCH_WORKERS=2,8,32 \
		$(PERF_BENCH) 'Load' -count 3 | tee -a $(PERF_OUT)
	@echo "# 2: fixed latency, up to 512 requests in flight, against the bound C/L" >&2
	STORAGEBENCH_BACKENDS=mem,local STORAGEBENCH_PROFILES=fixed-20ms STORAGEBENCH_MODES=async \
		STORAGEBENCH_WORKERS=1,8 STORAGEBENCH_FETCH=1,8,64 \
		$(PERF_BENCH) 'Load' -benchtime 10s | tee -a $(PERF_OUT)
	@echo "# 4: peak RSS over 100,000 and 1,000,000 items" >&2
	for n in 100000 1000000; do \
		STORAGEBENCH_BACKENDS=mem STORAGEBENCH_ITEMS=256 STORAGEBENCH_MODES=async STORAGEBENCH_WORKERS=4 \
			$(PERF_BENCH) 'Load' -benchtime $${n}x | tee -a $(PERF_OUT) || exit 1; \
	done
	@echo "# 5: the seed's S3 latency; decoding alone" >&2
	STORAGEBENCH_BACKENDS=fakes3,local STORAGEBENCH_PROFILES=seed-s3 STORAGEBENCH_MODES=async STORAGEBENCH_WORKERS=32 \
		STORAGEBENCH_DECODE=none,jpeg $(PERF_BENCH) 'Load|Decode' -benchtime 10s | tee -a $(PERF_OUT)
	STORAGEBENCH_BACKENDS=fakes3 STORAGEBENCH_PROFILES=seed-s3 STORAGEBENCH_MODES=sync STORAGEBENCH_WORKERS=2 \
		$(PERF_BENCH) 'Load' -benchtime 400x | tee -a $(PERF_OUT)
	$(GO) run ./cmd/storagebench targets $(PERF_OUT)

clean:
	rm -f $(BENCH_OUT) $(PERF_OUT) chart*.png
