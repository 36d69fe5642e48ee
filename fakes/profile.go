package fakes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/storagebench/storagebench/dataset"
)

// Dist is a distribution of durations. Implementations are immutable and
// safe for concurrent use.
type Dist interface {
	// Quantile returns the duration below which a fraction q of draws fall.
	// q is in the open interval (0, 1); values outside are clamped.
	Quantile(q float64) time.Duration
	// Mean returns the expected duration.
	Mean() time.Duration
	// String describes the distribution and its parameters.
	String() string
}

// Fixed returns the distribution that is always d. It panics if d is
// negative.
func Fixed(d time.Duration) Dist {
	if d < 0 {
		panic(fmt.Sprintf("fakes: Fixed(%v): negative duration", d))
	}
	return fixed(d)
}

type fixed time.Duration

func (f fixed) Quantile(float64) time.Duration { return time.Duration(f) }
func (f fixed) Mean() time.Duration            { return time.Duration(f) }
func (f fixed) String() string                 { return "fixed(" + time.Duration(f).String() + ")" }

// z99 is the 0.99 quantile of the standard normal distribution, ≈ 2.3263.
var z99 = normalQuantile(0.99)

// LogNormal returns the shifted log-normal distribution X = min + Y, with Y
// log-normal, whose median is median and whose 0.99 quantile is p99. Such a
// distribution never goes below min and has the long right tail that
// storage latencies show. Its mean is computed analytically:
// min + (median-min)·exp(σ²/2). LogNormal panics unless
// 0 <= min < median < p99.
func LogNormal(min, median, p99 time.Duration) Dist {
	if min < 0 || min >= median || median >= p99 {
		panic(fmt.Sprintf("fakes: LogNormal(%v, %v, %v): want 0 <= min < median < p99", min, median, p99))
	}
	// Y's median is e^mu, its 0.99 quantile e^(mu + z99·sigma).
	mu := math.Log(float64(median - min))
	sigma := (math.Log(float64(p99-min)) - mu) / z99
	return &logNormal{
		min: min, median: median, p99: p99,
		mu: mu, sigma: sigma,
		mean: toDuration(float64(min) + math.Exp(mu+sigma*sigma/2)),
	}
}

type logNormal struct {
	min, median, p99 time.Duration
	mu, sigma        float64 // of Y = X - min, in nanoseconds
	mean             time.Duration
}

func (l *logNormal) Quantile(q float64) time.Duration {
	if q <= 0 || math.IsNaN(q) {
		return l.min
	}
	return toDuration(float64(l.min) + math.Exp(l.mu+l.sigma*normalQuantile(q)))
}

func (l *logNormal) Mean() time.Duration { return l.mean }

func (l *logNormal) String() string {
	return fmt.Sprintf("lognormal(min=%v, median=%v, p99=%v)", l.min, l.median, l.p99)
}

// normalQuantile is the inverse of the standard normal CDF. q is clamped
// below 1 so that the result stays finite.
func normalQuantile(q float64) float64 {
	return math.Sqrt2 * math.Erfinv(2*min(q, 1-0x1p-53)-1)
}

// toDuration rounds ns to a Duration, saturating instead of overflowing.
func toDuration(ns float64) time.Duration {
	switch {
	case ns >= math.MaxInt64:
		return math.MaxInt64
	case ns <= 0 || math.IsNaN(ns):
		return 0
	}
	return time.Duration(math.Round(ns))
}

// Profile describes how a storage system responds to reads: a time to
// first byte drawn per request and a per-request bandwidth after it, and
// the store's capacity across all the requests of one [Emulator]: a
// request rate per key prefix, an aggregate bandwidth (the reading node's
// network link) and a knee past which latency rises with the requests in
// flight. The zero Profile adds nothing. Failures are an [Injector]'s
// business, except the throttling of requests over PrefixRate.
type Profile struct {
	Name      string  // the name LookupProfile knows it by
	TTFB      Dist    // time to first byte, per request; nil means none
	Bandwidth float64 // bytes per second per request after the first byte; 0 (or less) means unlimited

	// PrefixRate is the GET and HEAD requests per second the store serves
	// per key prefix (a key up to and including its last '/'), as S3
	// partitions its request rate by prefix; 0 (or less) means unlimited.
	// Each prefix may also take a burst of a tenth of a second's worth of
	// requests (at least one) at once. A request over it is refused at
	// once, before its time to first byte, with S3's 503 SlowDown.
	PrefixRate float64
	// Link is the bytes per second all bodies in flight share, such as
	// the reading node's network link; 0 (or less) means unlimited.
	Link float64
	// Knee is the requests in flight past which the time to first byte
	// rises in proportion: a request that arrives with n requests in
	// flight, itself included, waits max(1, n/Knee) times its draw (see
	// kneeScale); 0 (or less) means no knee.
	Knee int

	Source string // where the numbers come from (one line)
}

// MeanLatency returns the mean time to read an object of size bytes: the
// mean time to first byte plus size/Bandwidth.
func (p Profile) MeanLatency(size int64) time.Duration {
	var d time.Duration
	if p.TTFB != nil {
		d = p.TTFB.Mean()
	}
	if p.Bandwidth > 0 && size > 0 {
		d += toDuration(float64(size) / p.Bandwidth * 1e9)
	}
	return d
}

// IsZero reports whether p adds no delay, caps no bandwidth and sets no
// capacity (PrefixRate, Link or Knee). A TTFB whose mean is zero counts
// as no delay.
func (p Profile) IsZero() bool {
	return !p.hasTTFB() && p.Bandwidth <= 0 && p.PrefixRate <= 0 && p.Link <= 0 && p.Knee <= 0
}

// String describes p in one line: its name, time to first byte,
// bandwidth per request and capacity, as in "s3: time to first byte
// lognormal(min=10ms, median=25ms, p99=120ms), 90 MB/s per request, 5500
// GET/HEAD/s per prefix, link 3.125 GB/s".
func (p Profile) String() string {
	var parts []string
	if p.hasTTFB() {
		parts = append(parts, "time to first byte "+p.TTFB.String())
	}
	if p.Bandwidth > 0 {
		parts = append(parts, byteRate(p.Bandwidth)+" per request")
	}
	if p.PrefixRate > 0 {
		parts = append(parts, strconv.FormatFloat(p.PrefixRate, 'g', -1, 64)+" GET/HEAD/s per prefix")
	}
	if p.Link > 0 {
		parts = append(parts, "link "+byteRate(p.Link))
	}
	if p.Knee > 0 {
		parts = append(parts, fmt.Sprintf("latency ×n/%d past %d in flight", p.Knee, p.Knee))
	}
	desc := "no emulation"
	if len(parts) > 0 {
		desc = strings.Join(parts, ", ")
	}
	if p.Name == "" {
		return desc
	}
	return p.Name + ": " + desc
}

// byteRate formats a rate in bytes per second in decimal units.
func byteRate(bps float64) string {
	for _, u := range []struct {
		scale float64
		unit  string
	}{{1e9, "GB/s"}, {1e6, "MB/s"}, {1e3, "kB/s"}} {
		if bps >= u.scale {
			return strconv.FormatFloat(bps/u.scale, 'g', 4, 64) + " " + u.unit
		}
	}
	return strconv.FormatFloat(bps, 'g', 4, 64) + " B/s"
}

func (p Profile) hasTTFB() bool { return p.TTFB != nil && p.TTFB.Mean() > 0 }

// Capacity figures the profiles share.
const (
	// s3PrefixRate is S3's documented request rate per prefix: "at least
	// 3,500 PUT/COPY/POST/DELETE or 5,500 GET/HEAD requests per second
	// per partitioned prefix" (AWS S3 User Guide, "Best practices design
	// patterns: optimizing Amazon S3 performance"). S3 scales out past it
	// by partitioning prefixes and documents no latency knee, so the S3
	// profiles have none.
	s3PrefixRate = 5500
	// expressReadRate is S3 Express One Zone's documented default for a
	// directory bucket: "up to 200,000 reads ... per second" (AWS S3 User
	// Guide, "Optimizing S3 Express One Zone performance"). It is a figure
	// per bucket, applied here per prefix: the same for a dataset under
	// one prefix, as the synthetic one is.
	expressReadRate = 200_000
	// nodeLink is the network link of the node that reads, not a figure of
	// any store: 25 Gbit/s = 3.125e9 bytes/s, as on a 25 Gbit/s EC2
	// instance.
	nodeLink = 25e9 / 8
	// nvmeKnee is the reads in flight at which a datacenter NVMe SSD
	// saturates. By Little's law, in flight = IOPS x latency: datasheets
	// give ~1M 4 KiB random-read IOPS at ~80 µs each, so
	// 1e6/s x 80e-6 s = 80 reads in flight. Past that, more queue depth
	// adds latency and no throughput.
	nvmeKnee = 80
)

// profiles are the named profiles, in the order Profiles returns them.
var profiles = []Profile{
	{
		Name:   "none",
		Source: "no emulation: the storage's own latency only",
	},
	{
		// The seed project measured S3 per item: median 148 ms, minimum
		// 99 ms, mean 166 ms over the 50,000 ImageNet val JPEGs (~110 KB
		// each), client on premises. Model X = m + Y, Y log-normal:
		//   m = 99 ms; median(Y) = e^mu = 148 - 99 = 49 ms;
		//   mean = m + e^mu·e^(σ²/2) = 166 ms
		//     => e^(σ²/2) = 67/49 => σ² = 2·ln(67/49) = 0.62571, σ = 0.79104;
		//   p99 = m + e^(mu + 2.32635σ) = 99 + 49·e^1.84025 = 99 + 308.60
		//       = 407.6 ms, rounded to 408 ms (the mean is then 166.03 ms).
		// The latency was measured per whole item, so there is no
		// separate bandwidth cap. Capacity as for s3: S3's 5,500 GET/HEAD
		// per second per prefix, and the reading node's 25 Gbit/s link
		// (a node's, not S3's).
		Name:       "seed-s3",
		TTFB:       LogNormal(99*time.Millisecond, 148*time.Millisecond, 408*time.Millisecond),
		PrefixRate: s3PrefixRate,
		Link:       nodeLink,
		Source:     "seed project's S3 measurement over 50k ImageNet val JPEGs (~110 KB), on-premises client: min 99 ms, median 148 ms, mean 166 ms; AWS S3 docs: 5,500 GET/HEAD/s per prefix; a 25 Gbit/s node link (the reader's, e.g. an EC2 instance's, not S3's)",
	},
	{
		// A GET of a ~100 KB object from S3 Standard, client in the same
		// region. AWS's performance design patterns quote first-byte
		// latencies of "roughly 100-200 ms" for small objects as a guide
		// for when to retry, i.e. a tail, not the typical case; in-region
		// measurements put the median around 20-30 ms. Hence min 10 ms,
		// median 25 ms and p99 120 ms. AWS's guidelines give 85-90 MB/s
		// per connection, so 90 MB/s per request. Capacity: S3's 5,500
		// GET/HEAD per second per prefix, no knee (S3 scales out), and the
		// reading node's link, 25 Gbit/s as on a 25 Gbit/s EC2 instance:
		// a node's figure, not S3's.
		Name:       "s3",
		TTFB:       LogNormal(10*time.Millisecond, 25*time.Millisecond, 120*time.Millisecond),
		Bandwidth:  90e6,
		PrefixRate: s3PrefixRate,
		Link:       nodeLink,
		Source:     "AWS S3 performance guidelines: ~100-200 ms first byte as a tail guide for small objects, 85-90 MB/s per connection, 5,500 GET/HEAD/s per prefix; in-region median taken as 25 ms; a 25 Gbit/s node link (the reader's, e.g. an EC2 instance's, not S3's)",
	},
	{
		// S3 Express One Zone is documented as "single-digit millisecond"
		// data access, up to 10x faster than S3 Standard: min 1 ms, median
		// 3 ms, p99 8 ms. Per-request bandwidth is taken as about twice
		// that of Standard, 200 MB/s. Capacity: a directory bucket's
		// documented default of 200,000 reads per second, and the reading
		// node's 25 Gbit/s link (a node's, not S3's).
		Name:       "express",
		TTFB:       LogNormal(1*time.Millisecond, 3*time.Millisecond, 8*time.Millisecond),
		Bandwidth:  200e6,
		PrefixRate: expressReadRate,
		Link:       nodeLink,
		Source:     "AWS S3 Express One Zone docs: single-digit-millisecond access, up to 10x faster than S3 Standard, 200,000 reads/s per directory bucket by default; a 25 Gbit/s node link (the reader's, e.g. an EC2 instance's, not S3's)",
	},
	{
		// A local datacenter NVMe SSD: datasheets give ~70-90 µs for a
		// queue-depth-1 random read, tails of a few hundred µs under load,
		// and a few GB/s of sequential read. Min 40 µs, median 80 µs, p99
		// 300 µs, 2.5 GB/s per request, no link (the drive is local).
		// Past 80 reads in flight (nvmeKnee) the latency rises with the
		// queue.
		Name:      "nvme",
		TTFB:      LogNormal(40*time.Microsecond, 80*time.Microsecond, 300*time.Microsecond),
		Bandwidth: 2.5e9,
		Knee:      nvmeKnee,
		Source:    "typical datacenter NVMe SSD datasheets: ~80 µs QD1 random read, a few GB/s per stream, ~1M random-read IOPS: a knee at 1e6/s x 80 µs = 80 reads in flight",
	},
}

// Profiles returns the named profiles, in a stable order: none, seed-s3,
// s3, express, nvme. The caller may modify the returned slice.
func Profiles() []Profile { return slices.Clone(profiles) }

// ErrUnknownProfile is returned, wrapped, by [LookupProfile] for a name it
// does not know.
var ErrUnknownProfile = errors.New("fakes: unknown profile")

// fixedPrefix starts the name of a profile with a fixed time to first byte.
const fixedPrefix = "fixed-"

// LookupProfile returns the profile called name: one of [Profiles], or
// "fixed-<duration>" (e.g. "fixed-10ms", parsed by time.ParseDuration) for
// a fixed time to first byte with no bandwidth cap. For any other name it
// returns an error wrapping [ErrUnknownProfile] that lists the known names.
func LookupProfile(name string) (Profile, error) {
	for _, p := range profiles {
		if p.Name == name {
			return p, nil
		}
	}
	if s, ok := strings.CutPrefix(name, fixedPrefix); ok {
		d, err := time.ParseDuration(s)
		if err == nil && d < 0 {
			err = errors.New("negative duration")
		}
		if err != nil {
			return Profile{}, fmt.Errorf("%w %q: %w", ErrUnknownProfile, name, err)
		}
		return Profile{
			Name:   name,
			TTFB:   Fixed(d),
			Source: "fixed time to first byte of " + d.String() + ", no bandwidth cap, no capacity limit",
		}, nil
	}
	names := make([]string, 0, len(profiles)+1)
	for _, p := range profiles {
		names = append(names, p.Name)
	}
	names = append(names, fixedPrefix+"<duration> (e.g. fixed-10ms)")
	return Profile{}, fmt.Errorf("%w %q: known profiles are %s", ErrUnknownProfile, name, strings.Join(names, ", "))
}

// ErrInjected is returned, wrapped, by a read that an [Injector] made fail.
var ErrInjected = errors.New("fakes: injected fault")

// Emulator applies a [Profile] to requests, as HTTP middleware or as a
// [dataset.Backend] wrapper. Its draws are deterministic from a seed:
// request n (counted atomically from 0, across both uses) draws its time to
// first byte from the splitmix64 output 2n+1 of the seed's stream, stratified over blocks of requests (see
// stratified), through Dist.Quantile. Drawing takes no lock. An
// Emulator is safe for concurrent use; which request gets which draw then
// depends on the order requests arrive in.
//
// The profile's capacity applies across all the requests of one Emulator,
// through its middleware and its backend alike: they share the request
// budget of each key prefix, the link and the count of requests in flight
// that the knee reads. A request is in flight from its arrival until its
// body is sent or abandoned (the client goes away, or the backend's reader
// ends or is closed).
type Emulator struct {
	p        Profile
	ttfb     Dist // p.TTFB, or nil when it adds nothing
	seed     uint64
	n        atomic.Uint64 // requests drawn so far
	late     lateness      // how late its sleeps wake
	capacity capacity      // the state of p's capacity limits
}

// NewEmulator returns an emulator applying p, drawing from seed. A
// Bandwidth, PrefixRate, Link or Knee of zero or less is unlimited.
func NewEmulator(p Profile, seed uint64) *Emulator {
	e := &Emulator{
		p:    p,
		seed: seed,
	}
	if p.hasTTFB() {
		e.ttfb = p.TTFB
	}
	e.capacity.init(p)
	return e
}

// Wakes reports what ending every wait at its due instant has cost so
// far: the waits that woke early and spun out the rest, the time spun,
// and the waits that woke early and slept again.
func (e *Emulator) Wakes() (spins int64, spun time.Duration, resleeps int64) {
	return e.late.spins.Load(), time.Duration(e.late.spun.Load()), e.late.resleeps.Load()
}

// Profile returns the profile the emulator applies.
func (e *Emulator) Profile() Profile { return e.p }

// splitmix64's increment and output mix (Steele, Lea and Flood, 2014).
const golden = 0x9e3779b97f4a7c15

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// unit maps output i of the seed's stream into the open interval (0, 1).
func (e *Emulator) unit(i uint64) float64 {
	return (float64(mix64(e.seed+(i+1)*golden)>>11) + 0.5) / (1 << 53)
}

// draw takes the next request's time to first byte.
func (e *Emulator) draw() (ttfb time.Duration) {
	n := e.n.Add(1) - 1
	if e.ttfb != nil {
		ttfb = e.ttfb.Quantile(e.stratified(n))
	}
	return ttfb
}

// strata is how many requests make a block of stratified draws.
const strata = 128

// stratified returns request n's quantile of the time to first byte,
// uniform on (0, 1) like output 2n+1 of the seed's stream, but stratified:
// each block of strata consecutive requests draws once from each 1/strata
// of the distribution, in an order shuffled anew for each block. So the
// latency a run's reads get averages to the profile's mean whatever the
// run's length: independent draws under s3, whose latency has a
// standard deviation of 70% of its mean, average to within ±3% over 500
// requests, and a run that happened to draw short latencies read as more
// than the bound C/L allows.
func (e *Emulator) stratified(n uint64) float64 {
	block, i := n/strata, n%strata
	return (float64(shuffle(i, mix64(e.seed^(block+1)*golden))) + e.unit(2*n+1)) / strata
}

// shuffle maps i in [0, strata) to a place in [0, strata), a permutation
// chosen by key: rounds of odd multiplications, additions and xor-shifts,
// each a bijection modulo a power of two.
func shuffle(i, key uint64) uint64 {
	const mask = strata - 1
	x := i
	for r := range 3 {
		k := key >> (r * 20)
		x = (x*(k|1) + k>>10) & mask
		x ^= x >> 3
	}
	return x
}

// Chunk sizes for pacing. The first chunk is small so that pacing adds
// little to the time to first byte the reader sees.
const (
	firstChunk = 4 << 10
	maxChunk   = 32 << 10
)

// lateness is how late, on average, an emulator's sleeps wake: an
// exponentially weighted mean of the time between the instant a sleep
// asked for and the instant it returned, in nanoseconds. Go's timers wake
// late when the runtime's threads are idle, as they are while an emulated
// store is waiting: an idle thread waits for the next timer in epoll, whose
// timeout has millisecond resolution (runtime.netpoll), so a sleep wakes up
// to a millisecond late, half of one on average. Uncorrected, every
// emulated read would take about that much longer than its profile says
// (3% of the s3 profile's mean, 5% of fixed-20ms), and a loader measured
// against C/L, taken from the profile, would look that much worse than it
// is. So the emulator asks each sleep to end that much early; updates race
// and may be lost, which only slows the mean down. But timers also wake on
// time, when the runtime is busy: a sleep corrected by a millisecond then
// ended a millisecond before its due instant, and a loader read faster
// than the profile allows (efficiency 1.012 on one line). So a sleep that
// wakes before its due instant waits out the rest: it spins (yielding) for
// up to maxSpin, or sleeps again, uncorrected, for longer; never ending
// early. Its cost is counted: spins and the time spun, and sleeps again.
// (At fixed-20ms, C = 64 and 512 on mem, that took efficiency from
// 0.999 and 0.957 to 0.977-0.987 and 0.936-0.941, 2 runs each, CPU an
// item within the runs' noise; with maxSpin at 50 us, to 0.967 and
// 0.929-0.933, more waits sleeping again and waking late.)
type lateness struct {
	ns       atomic.Int64
	spins    atomic.Int64 // sleeps that woke early and spun out the rest
	spun     atomic.Int64 // nanoseconds spun
	resleeps atomic.Int64 // sleeps that woke early and slept again
}

// maxSpin is the longest a sleep that woke early spins out: past it, it
// sleeps again.
const maxSpin = 250 * time.Microsecond

// finish waits from a wake before due until due: spinning, yielding the
// processor, for a remainder of up to maxSpin; sleeping again on t,
// uncorrected, for a longer one. It returns ctx's error as soon as ctx is
// done.
func (l *lateness) finish(ctx context.Context, t *time.Timer, due time.Time) error {
	rest := time.Until(due)
	if rest <= 0 {
		return nil
	}
	if rest > maxSpin {
		if l != nil {
			l.resleeps.Add(1)
		}
		t.Reset(rest) // a timer never fires before its duration
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	start := time.Now()
	for time.Now().Before(due) {
		runtime.Gosched()
	}
	if l != nil {
		l.spins.Add(1)
		l.spun.Add(int64(time.Since(start)))
	}
	return nil
}

// Bounds of the lateness correction: a sleep is never asked to end more
// than maxLateness early, and a wake later than maxLateSample (the machine
// was busy, not the timer coarse) does not move the mean.
const (
	maxLateness   = 2 * time.Millisecond
	maxLateSample = 10 * time.Millisecond
	latenessGain  = 16 // the mean moves 1/latenessGain of the way to each sample
)

// get returns the current correction.
func (l *lateness) get() time.Duration {
	if l == nil {
		return 0
	}
	return time.Duration(l.ns.Load())
}

// observe counts a sleep that woke late after the instant it asked for.
func (l *lateness) observe(late time.Duration) {
	if l == nil || late < 0 || late > maxLateSample {
		return
	}
	m := l.ns.Load()
	l.ns.Store(min(int64(maxLateness), m+(int64(late)-m)/latenessGain))
}

// pacer releases bytes so that, t after the first byte was due, no more
// than bw·t bytes have been released, and no faster than a link shared
// with other pacers allows, and sleeps with one reusable timer, until
// instants corrected for the emulator's lateness.
type pacer struct {
	bw    float64   // bytes per second; pacing is off unless > 0
	start time.Time // when the first byte was due
	sent  int64     // bytes released so far
	timer *time.Timer
	late  *lateness     // the emulator's; nil: no correction
	link  *rate.Limiter // bytes per second shared with other pacers; nil: none
}

// sleepUntil waits until due, or returns ctx's error as soon as ctx is
// done: it sleeps until due less the emulator's lateness, then waits out
// whatever is left (see lateness), so that it never returns before due.
func (p *pacer) sleepUntil(ctx context.Context, due time.Time) error {
	if !time.Now().Before(due) {
		return nil
	}
	asked := due.Add(-p.late.get())
	d := time.Until(asked)
	if p.timer == nil {
		p.timer = time.NewTimer(max(d, 0))
		if d <= 0 {
			p.timer.Stop()
		}
	} else if d > 0 {
		p.timer.Reset(d)
	}
	if d > 0 {
		select {
		case <-p.timer.C:
			p.late.observe(time.Since(asked))
		case <-ctx.Done():
			p.timer.Stop()
			return ctx.Err()
		}
	}
	return p.late.finish(ctx, p.timer, due)
}

// chunk returns how many of n bytes to release at once.
func (p *pacer) chunk(n int) int {
	if p.sent == 0 {
		return min(n, firstChunk)
	}
	return min(n, maxChunk)
}

// wait counts n more bytes and blocks until they may be released: until
// the pacer's bandwidth allows them, then until the link does.
func (p *pacer) wait(ctx context.Context, n int) error {
	p.sent += int64(n)
	if p.bw > 0 {
		due := p.start.Add(toDuration(float64(p.sent) / p.bw * 1e9))
		if err := p.sleepUntil(ctx, due); err != nil {
			return err
		}
	}
	return p.waitLink(ctx, n)
}

// waitLink blocks until n bytes may cross the link, or returns ctx's
// error as soon as ctx is done, giving back the bytes it reserved. It
// reserves and sleeps itself, where rate.Limiter.WaitN would fail at once
// when ctx's deadline came before the bytes' turn, with an error that is
// not ctx's, and would take a new timer each time.
func (p *pacer) waitLink(ctx context.Context, n int) error {
	if p.link == nil {
		return nil
	}
	now := time.Now()
	r := p.link.ReserveN(now, n)
	if !r.OK() {
		return fmt.Errorf("fakes: %d bytes at once exceed the link's burst of %d", n, p.link.Burst())
	}
	if err := p.sleepUntil(ctx, now.Add(r.DelayFrom(now))); err != nil {
		r.Cancel()
		return err
	}
	return nil
}

// Middleware returns next behind the emulator. A GET or HEAD that
// addresses an object (a path-style "/bucket/key" with a non-empty key)
// is answered at once with 503 SlowDown if the key's prefix is over the
// profile's PrefixRate; else it waits its time to first byte (giving up
// if the client goes away), and a GET has its body paced to the profile's
// Bandwidth and to its Link, in flushed chunks of at most 32 KiB. Each
// such request that is not refused takes one draw. Other requests
// (listings, puts, deletes) pass through untouched. With a zero profile
// Middleware returns next itself.
func (e *Emulator) Middleware(next http.Handler) http.Handler {
	if e.p.IsZero() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		head := r.Method == http.MethodHead
		if (r.Method != http.MethodGet && !head) || !isObjectPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		ttfb, err := e.begin(objectKey(r.URL.Path))
		if err != nil {
			writeS3Error(w, throttleStatus, throttleCode, "Please reduce your request rate.")
			return
		}
		defer e.end()
		ctx := r.Context()
		pw := &pacedWriter{ResponseWriter: w, ctx: ctx}
		pw.late = &e.late
		firstByte := time.Now().Add(ttfb)
		if err := pw.sleepUntil(ctx, firstByte); err != nil {
			return // the client went away
		}
		if head || (e.p.Bandwidth <= 0 && e.capacity.link == nil) {
			next.ServeHTTP(w, r)
			return
		}
		pw.bw, pw.start, pw.link = e.p.Bandwidth, firstByte, e.capacity.link
		pw.flusher, _ = w.(http.Flusher)
		next.ServeHTTP(pw, r)
	})
}

// isObjectPath reports whether a path-style URL path names an object: a
// non-empty bucket followed by a non-empty key.
func isObjectPath(path string) bool {
	path = strings.TrimPrefix(path, "/")
	i := strings.IndexByte(path, '/')
	return i > 0 && i < len(path)-1
}

// pacedWriter paces a response body. It stays an http.Flusher, and
// http.ResponseController reaches the writer it wraps through Unwrap.
type pacedWriter struct {
	http.ResponseWriter
	ctx     context.Context
	flusher http.Flusher // the wrapped writer's, or nil
	pacer
}

// Write writes p in paced, flushed chunks. It stops with the request
// context's error if the client goes away.
func (w *pacedWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return w.ResponseWriter.Write(p)
	}
	written := 0
	for len(p) > 0 {
		n := w.chunk(len(p))
		if err := w.wait(w.ctx, n); err != nil {
			return written, err
		}
		m, err := w.ResponseWriter.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		w.Flush()
		p = p[n:]
	}
	return written, nil
}

// Flush flushes the wrapped writer, if it can.
func (w *pacedWriter) Flush() {
	if w.flusher != nil {
		w.flusher.Flush()
	}
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *pacedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Backend returns b behind the emulator. Open fails at once, with an
// error wrapping [ErrThrottled], of kind [dataset.KindThrottled], if the
// key's prefix is over the profile's PrefixRate; else it opens the object in b and returns a reader whose
// first Read waits until the time to first byte has passed since Open and
// whose Reads are paced to the profile's Bandwidth and to its Link, in
// chunks of at most 32 KiB. The read is in flight until the reader
// returns an error (io.EOF included) or is closed; the caller must close
// it. Errors from b pass through unchanged. The result implements
// [dataset.Lister], [dataset.Writer] and [dataset.Deleter] by delegating
// to b, undelayed and unlimited, failing with errors.ErrUnsupported when b
// does not, [dataset.Classifier]: a refusal is [dataset.KindThrottled],
// any other error of the kind b gives it, and [dataset.RangeOpener]: a
// range is read as a whole object is, the same time to first byte ahead
// of it and its own bytes paced, through b's OpenRange if b has one (else
// b's Open, the bytes before the range discarded undelayed). With a zero
// profile Backend returns b itself.
func (e *Emulator) Backend(b dataset.Backend) dataset.Backend {
	if e.p.IsZero() {
		return b
	}
	return &backend{delegate: delegate{b}, e: e}
}

type backend struct {
	delegate
	e *Emulator
}

func (w *backend) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	return w.open(ctx, key, wholeObject)
}

// OpenRange implements [dataset.RangeOpener] as Open reads a whole object:
// refused over PrefixRate, else the range (through b's OpenRange, or b's
// Open with the bytes before it discarded, see [dataset.OpenRange]) behind
// the same time to first byte, its own bytes paced.
func (w *backend) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	return w.open(ctx, key, byteRange{ranged: true, off: off, n: n})
}

// open opens r of key as Open and OpenRange do.
func (w *backend) open(ctx context.Context, key string, r byteRange) (io.ReadCloser, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	opened := time.Now()
	ttfb, err := w.e.begin(key)
	if err != nil {
		return nil, 0, err
	}
	rc, size, err := w.delegate.open(ctx, key, r)
	if err != nil {
		w.e.end()
		return rc, size, err
	}
	pr := &reader{ctx: ctx, rc: rc, firstByte: opened.Add(ttfb), e: w.e}
	pr.bw, pr.late, pr.link = w.e.p.Bandwidth, &w.e.late, w.e.capacity.link
	return pr, size, nil
}

// ErrorKind implements [dataset.Classifier]: a read refused over the
// profile's PrefixRate is [dataset.KindThrottled], any other error of the
// kind the wrapped backend gives it.
func (w *backend) ErrorKind(err error) dataset.ErrorKind {
	var te *throttleError
	if errors.As(err, &te) {
		return dataset.KindThrottled
	}
	return w.delegate.ErrorKind(err)
}

// delegate implements [dataset.Lister], [dataset.Writer],
// [dataset.Deleter] and [dataset.Classifier] by passing each call to b,
// untouched, failing with errors.ErrUnsupported when b cannot: the part
// the emulator's and the injector's wrappers share.
type delegate struct{ b dataset.Backend }

// byteRange is what a wrapper's read asks of the wrapped backend: the
// whole object (Open) or the bytes [off, off+n), or [off, end) when n < 0
// (OpenRange).
type byteRange struct {
	ranged bool
	off, n int64
}

// wholeObject is the byteRange of Open.
var wholeObject = byteRange{n: -1}

// length returns the length of r's body in an object of size bytes, or
// -1 when size is not known.
func (r byteRange) length(size int64) int64 {
	switch {
	case size < 0:
		return -1
	case !r.ranged:
		return size
	case r.n >= 0 && r.n < size-r.off:
		return r.n
	}
	return max(size-r.off, 0)
}

// open opens r of key in b: with b's Open, or with [dataset.OpenRange],
// which reads a range with b's OpenRange or, if b has none, with its Open.
func (w delegate) open(ctx context.Context, key string, r byteRange) (io.ReadCloser, int64, error) {
	if !r.ranged {
		return w.b.Open(ctx, key)
	}
	return dataset.OpenRange(ctx, w.b, key, r.off, r.n)
}

// ErrorKind returns the kind b gives err ([dataset.Classify]).
func (w delegate) ErrorKind(err error) dataset.ErrorKind { return dataset.Classify(w.b, err) }

func (w delegate) List(ctx context.Context, prefix string) ([]dataset.Entry, error) {
	l, ok := w.b.(dataset.Lister)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return l.List(ctx, prefix)
}

func (w delegate) Put(ctx context.Context, key string, data []byte) error {
	wr, ok := w.b.(dataset.Writer)
	if !ok {
		return errors.ErrUnsupported
	}
	return wr.Put(ctx, key, data)
}

func (w delegate) Delete(ctx context.Context, key string) error {
	d, ok := w.b.(dataset.Deleter)
	if !ok {
		return errors.ErrUnsupported
	}
	return d.Delete(ctx, key)
}

// reader delays and paces the object it wraps, and counts the read in
// flight at its emulator until it ends.
type reader struct {
	ctx       context.Context
	rc        io.ReadCloser
	firstByte time.Time   // when the first byte is due: Open's time plus the draw
	started   bool        // the first byte is due
	e         *Emulator   // whose request the read is
	ended     atomic.Bool // the read is over: the emulator counted it out
	pacer
}

// Read reads the object as paced; the read ends with its first error,
// io.EOF included.
func (r *reader) Read(p []byte) (int, error) {
	n, err := r.read(p)
	if err != nil {
		r.end()
	}
	return n, err
}

func (r *reader) read(p []byte) (int, error) {
	if !r.started {
		if err := r.sleepUntil(r.ctx, r.firstByte); err != nil {
			return 0, err
		}
		r.started, r.start = true, r.firstByte
	}
	if r.bw <= 0 && r.link == nil {
		return r.rc.Read(p)
	}
	n, err := r.rc.Read(p[:r.chunk(len(p))])
	if n > 0 {
		if werr := r.wait(r.ctx, n); werr != nil {
			return 0, werr
		}
	}
	return n, err
}

// Close ends the read, if it has not ended yet, and closes the object.
func (r *reader) Close() error {
	r.end()
	return r.rc.Close()
}

// end counts the read out of the emulator's requests in flight, once.
func (r *reader) end() {
	if r.ended.CompareAndSwap(false, true) {
		r.e.end()
	}
}
