package results

import (
	"fmt"
	"strings"
)

// Base names of the benchmarks, without "Benchmark", as in
// "BenchmarkLoad/backend=mem/...".
const (
	Raw    = "Raw"    // straight reads from a backend: the raw baseline
	Load   = "Load"   // reads through the loader
	Decode = "Decode" // decoding alone, from memory
	Train  = "Train"  // emulated training: accelerators consuming loaders
	S3Get  = "S3Get"  // whole-object GETs from one S3 server by two clients
	Serve  = "Serve"  // what storagebench serve saw (written by serve -o, not go test)
)

// Values of [KeyClient]: the two clients an S3Get benchmark compares.
const (
	ClientSDK   = "aws-sdk-go-v2" // the S3 backend's own path, as the loader reads
	ClientMinio = "minio-go"      // the client warp is built on, the reference
)

// Keys of benchmark names that are not dimensions of a case (package
// cases declares those, each with its key).
const (
	KeyConcurrency = "concurrency" // readers or decoders in a Raw, Decode or S3Get benchmark
	KeyClient      = "client"      // the S3 client of an S3Get benchmark
	KeyGOMAXPROCS  = "gomaxprocs"  // the "-N" suffix the testing package adds
	KeyAt          = "at"          // a Serve interval's end, since serving started, such as 10s
)

// Metric units the benchmarks report. The testing package's own units
// (ns/op, B/op, allocs/op, MB/s) are here too, so that readers name them
// the same way.
const (
	NsPerOp          = "ns/op"             // the testing package's time per item
	BytesPerOp       = "B/op"              // bytes allocated per item
	AllocsPerOp      = "allocs/op"         // allocations per item
	MBPerSecond      = "MB/s"              // item bytes read per second, from SetBytes
	ItemsPerSecond   = "items/s"           // items delivered over the timed run: 1e9 / ns/op
	RawItemsPerSec   = "raw-items/s"       // the raw baseline at the loader's concurrency
	BoundItemsPerSec = "bound-items/s"     // min(C / L, best raw): what the storage can give
	Efficiency       = "efficiency"        // items/s over bound-items/s
	BytesPerItem     = "B/item"            // mean bytes of the items read
	StartRSS         = "start-rss-B"       // resident set size when the timed run started
	PeakRSS          = "peak-rss-B"        // the largest resident set size seen during it
	RunNs            = "run-ns"            // the timed run, elapsed
	AU               = "au"                // accelerator utilization, 0 to 1: the mean over accelerators of compute time over wall time
	AUMin            = "au-min"            // the least accelerator utilization of one accelerator
	SamplesPerSecond = "samples/s"         // samples consumed by all accelerators over the timed run
	StallMeanNs      = "stall-mean-ns"     // an accelerator's wait a step, for its batch or for the others: mean
	StallP99Ns       = "stall-p99-ns"      // the same wait's 99th percentile
	Steps            = "steps"             // training steps in the timed run
	BoundSamplesSec  = "bound-samples/s"   // the most samples/s the emulated store gives a Train job: its capacity and C / L
	CPUFraction      = "cpu-fraction"      // the process's CPU time over the timed run, over elapsed x GOMAXPROCS
	HeldItemsPeak    = "held-items-peak"   // the most item buffers the loader held at once
	HeldBytesPeak    = "held-bytes-peak"   // the most bytes of items the loader held at once
	HedgesPerItem    = "hedges/item"       // second reads started, over items delivered
	HedgeWinsPerItem = "hedge-wins/item"   // second reads that delivered their item, over items delivered
	InFlightFraction = "inflight-fraction" // mean reads in flight over C: how busy the fetchers were
	CPUPerItem       = "cpu-ns/item"       // the process's CPU time (user and system) over the timed run, per item
	ErrorsPerItem    = "errors/item"       // failed attempts of reads (retried or not), over items due: delivered and skipped
	RetriesPerItem   = "retries/item"      // attempts after a read's first, over items due
	SkippedPerItem   = "skipped/item"      // items left out under onerror=skip, over items due
	RetryTimePercent = "retry-time-%"      // time items' reads lost to failed attempts and waits before retries, percent of getitem time
	// Tar lines (format=tar): what a layout costs in requests and bytes.
	RequestsPerItem  = "requests/item"          // requests that read items (a shard's stream and its resumes, or a ranged GET), over items read
	ReadBytesPerByte = "read-B/B"               // bytes read from the store over bytes delivered: tar headers, padding and labels included
	DroppedPerItem   = "dropped/item"           // samples of the workers' shares no batch took (every worker delivers the same whole batches), over items delivered
	FirstBatchNs     = "time-to-first-batch-ns" // from the loader's start, after its warm-up, to its first batch
	// What storagebench serve saw, on its Serve lines: one op is one
	// request.
	RequestsPerSecond = "requests/s"        // requests answered over the stretch
	InFlightMean      = "inflight-mean"     // requests in flight over time, mean (every instant weighs the same)
	InFlightP50       = "inflight-p50"      // its median
	InFlightP99       = "inflight-p99"      // its 99th percentile
	InFlightMax       = "inflight-max"      // the most at once
	GetTTFBP50Ns      = "get-ttfb-p50-ns"   // GetObject: from the request's arrival to its headers, median
	GetTTFBP99Ns      = "get-ttfb-p99-ns"   // and 99th percentile
	GetTotalP99Ns     = "get-total-p99-ns"  // GetObject: to the response's end, 99th percentile
	GetsPerSecond     = "gets/s"            // GetObject requests answered a second
	ThrottledPerReq   = "throttled/request" // answers 503 or 429, over requests
	FailedPerReq      = "failed/request"    // answers 5xx other than 503, or none, over requests
	CPUPerRequest     = "cpu-ns/request"    // the server process's CPU time (user and system) over the stretch, per request
	// CacheResident is the share of a folder dataset's pages the host's
	// page cache held before the timed run (after the cache setting's
	// preparation: warmed, dropped, or as it stood), 0 to 1.
	CacheResident = "cache-resident-fraction"
	// CacheResidentEnd is the same share after the timed run, before
	// anything else read the folder.
	CacheResidentEnd = "cache-resident-fraction-end"
)

// HigherIsBetter are the units, among those the benchmarks report, for
// which a larger value is better; benchstat is told so by "Unit"
// metadata lines.
var HigherIsBetter = []string{ItemsPerSecond, RawItemsPerSec, BoundItemsPerSec, Efficiency, AU, AUMin, SamplesPerSecond}

// Stats are the statistics reported for each level of a Load benchmark,
// in the order they are reported. GetItem also reports P999.
var Stats = []string{"mean", "median", "min", "max", "p99"}

// P999 is the getitem level's 99.9th percentile, as in "getitem-p999-ns".
const P999 = "p999"

// LevelUnit returns the unit of a level's statistic in nanoseconds, as in
// "getitem-p99-ns".
func LevelUnit(level, stat string) string { return level + "-" + stat + "-ns" }

// IsTime reports whether unit is a duration in nanoseconds, like
// "getitem-p99-ns", "run-ns" or "ns/op".
func IsTime(unit string) bool { return strings.HasSuffix(unit, "-ns") || unit == NsPerOp }

// Configuration lines the benchmarks print before their results, as in
// "dataset-items: 2000". Results carry them until a line changes them.
const (
	ConfigSmoke            = "smoke"               // "true" for a -short run: a smoke test, not a measurement
	ConfigDatasetItems     = "dataset-items"       // items in the index read
	ConfigDatasetBodies    = "dataset-bodies"      // distinct item bodies of a synthetic dataset: key i holds body i mod K
	ConfigDatasetFiles     = "dataset-files"       // "distinct" for a synthetic folder of a file a key (no hard links); absent for linked
	ConfigDatasetMeanBytes = "dataset-mean-bytes"  // their mean size
	ConfigDatasetMaxBytes  = "dataset-max-bytes"   // the largest
	ConfigEndpoint         = "endpoint"            // what kind of endpoint the backend reads
	ConfigLoaderPrefetch   = "loader-prefetch"     // batches each worker holds
	ConfigWindowBytes      = "loader-window-bytes" // the item scheduler's byte budget, when set: bytes, or "none"; absent for the default
	ConfigStoreProfile     = "store-profile"       // the profile a real store serves
	ConfigRank             = "rank"                // the process's rank in a run of many
	ConfigWorldSize        = "world-size"          // the processes of that run
	ConfigUntimedLevels    = "untimed-levels"      // levels the lines that follow leave out, as not meaningful for their dataset (epoch: a round larger than an epoch); absent for none
	ConfigPageCache        = "page-cache"          // before cache=warm folder lines whose dataset fits in the host's available memory: that their reads are memory copies; cleared after
	ConfigDatasetShards    = "dataset-shards"      // before format=tar lines: the tar shards the samples are in; cleared after
	ConfigSamplesPerShard  = "samples-per-shard"   // before format=tar lines: the samples a shard holds on average; cleared after
)

// Configuration lines the testing package prints, which name the machine.
const (
	ConfigGOOS   = "goos"
	ConfigGOARCH = "goarch"
	ConfigCPU    = "cpu"
	ConfigPkg    = "pkg"
)

// SubName returns a sub-benchmark name of "key=value" parts joined by
// "/", from alternating keys and values: SubName("mode", "sync",
// "workers", 8) is "mode=sync/workers=8". It panics on an odd number of
// arguments or a key that is not a string, a programming error.
func SubName(kv ...any) string {
	if len(kv)%2 != 0 {
		panic("results.SubName: odd number of arguments")
	}
	var b strings.Builder
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			panic(fmt.Sprintf("results.SubName: key %v is not a string", kv[i]))
		}
		if i > 0 {
			b.WriteByte('/')
		}
		fmt.Fprintf(&b, "%s=%v", k, kv[i+1])
	}
	return b.String()
}
