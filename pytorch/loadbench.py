#!/usr/bin/env python3
"""PyTorch's own DataLoader reading a seed-format S3 dataset with boto3.

The reference the Go loader is checked against: the seed's two shapes,
set up as a PyTorch user sets them up, printing benchmark-format lines
named as BenchmarkLoad names its own, plus client=torch, so that
benchstat puts both in one table:

  mode=sync   each DataLoader worker fetches the items of its batch one
              after another (Dataset.__getitem__, one GET an item);
  mode=async  each worker fetches the items of its batch at once, on a
              thread pool of its own as large as the batch (the
              concurrent fetch the seed's paper proposes).

Workers are persistent, each with one boto3 client created after the
fork (in worker_init_fn) whose connection pool is at least as large as
its threads; batches come in the index's order (a sequential sampler,
drop_last off), prefetch_factor batches a worker, as BenchmarkLoad reads.

What a run reads is the dataset of a seed-format S3 configuration (the
file "storagebench serve -config-out" writes): its index is downloaded
and the bucket listed for every item's size, as the Go suite does, and
every item read is checked against that size. The timed run starts after
a warm-up of (prefetch_factor + 1) rounds of batches (a round is one
batch from each worker) and ends with the epoch in which it has lasted
at least -benchtime and read at least -benchtime's items; its epochs are
PyTorch's own, each started anew by iter(), as a training loop starts
them: PyTorch sends no index of the next epoch before that, so the last,
ragged round of an epoch and the next one's first batches are waited for,
which epoch-gap-mean-ns (an epoch's last batch to the next one's first)
shows.

Every object this process and its workers read whole (GetObject) and
every listing page is counted, warm-up, index and listing included, and
printed to stderr when the run ends, so that what the store answered can
be compared with it (boto3's own retries of a failed attempt are not
counted: compare with the store's successful answers).

Needs Python 3.9+, PyTorch and boto3 (Debian: python3-torch,
python3-boto3), nothing else. Run "python3 loadbench.py -h" for flags;
-s3-config, -modes, -workers, -batch and -prefetch take their defaults
from the variables BenchmarkLoad reads.
"""

import argparse
import ctypes
import json
import math
import multiprocessing
import os
import platform
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore
import botocore.config
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, SequentialSampler

PKG = "github.com/storagebench/storagebench/bench"

# The fields of a seed-format S3 configuration: the four the seed had,
# then the optional ones "storagebench serve" writes.
REQUIRED = ("aws_access_key_id", "aws_secret_access_key", "bucket_name", "index_file_download_url")
OPTIONAL = ("aws_session_token", "endpoint_url", "region", "use_path_style", "profile", "faults")


class UsageError(Exception):
    """A flag, a variable or a file that is wrong, named."""


def load_config(path):
    """Return the S3 configuration at path, refusing what the Go suite
    refuses: bad JSON, an unknown field, a value of the wrong type. The
    secret never appears in an error."""
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except OSError as e:
        raise UsageError(f"s3 config {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"s3 config {path}:{e.lineno}:{e.colno}: {e.msg}") from None
    if not isinstance(cfg, dict):
        raise UsageError(f"s3 config {path}: want a JSON object")
    for k, v in cfg.items():
        if k not in REQUIRED and k not in OPTIONAL:
            raise UsageError(f"s3 config {path}: unknown field {k!r}")
        want = bool if k == "use_path_style" else str
        if not isinstance(v, want):
            raise UsageError(f"s3 config {path}: field {k!r}: want a {want.__name__}")
    for k in ("bucket_name", "index_file_download_url"):
        if not cfg.get(k):
            raise UsageError(f"s3 config {path}: field {k!r} is missing or empty")
    m = re.fullmatch(r"s3://([^/]+)/(.+)", cfg["index_file_download_url"])
    if not m:
        raise UsageError(f"s3 config {path}: index_file_download_url {cfg['index_file_download_url']!r}: want s3://bucket/key")
    cfg["_index"] = (m.group(1), m.group(2))
    return cfg


def make_client(cfg, pool):
    """Return a boto3 S3 client for cfg with a connection pool of at least
    pool connections, as the Go suite's client is set up: at most 3
    attempts a request, a 3 s connection timeout, path-style addressing
    when the configuration asks for it."""
    s3 = {"addressing_style": "path"} if cfg.get("use_path_style") else {}
    conf = botocore.config.Config(
        max_pool_connections=max(10, pool),
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=3,
        s3=s3,
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=cfg.get("endpoint_url") or None,
        region_name=cfg.get("region") or "us-east-1",
        aws_access_key_id=cfg.get("aws_access_key_id") or None,
        aws_secret_access_key=cfg.get("aws_secret_access_key") or None,
        aws_session_token=cfg.get("aws_session_token") or None,
        config=conf,
    )


class Counters:
    """Requests and bytes, and each worker's CPU time, in shared memory
    that forked workers add to."""

    GETS, GET_BYTES, LISTS = 0, 1, 2

    def __init__(self, ctx, workers):
        self.req = ctx.Array(ctypes.c_longlong, 3)
        self.cpu = ctx.Array(ctypes.c_longlong, max(workers, 1), lock=False)

    def add(self, i, n=1):
        with self.req.get_lock():
            self.req[i] += n

    def get(self, nbytes):
        with self.req.get_lock():
            self.req[self.GETS] += 1
            self.req[self.GET_BYTES] += nbytes

    def worker_cpu(self):
        """The workers' CPU time so far: read from /proc for every child
        of this process where Linux gives it (their collate and pickling
        included), else as the workers last wrote it."""
        proc = children_cpu_ns()
        return proc if proc is not None else sum(self.cpu[:])


def children_cpu_ns():
    """The CPU time (user and system) of this process's living children,
    from /proc; None where there is no /proc."""
    me = str(os.getpid())
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # gone, or not ours to read
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) "
        if fields[1] == me:  # ppid
            total += (int(fields[11]) + int(fields[12])) * 1_000_000_000 // tick  # utime, stime
    return total


def read_index(cfg, client, counters):
    """Download the index (one GET, counted) and return its keys."""
    bucket, key = cfg["_index"]
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    counters.get(len(body))
    try:
        keys = json.loads(body)
    except ValueError as e:
        raise UsageError(f"index s3://{bucket}/{key}: {e}") from None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
        raise UsageError(f"index s3://{bucket}/{key}: want a non-empty JSON array of keys")
    if len(set(keys)) != len(keys):
        raise UsageError(f"index s3://{bucket}/{key}: duplicate keys")
    return keys


def common_prefix(keys):
    """The longest prefix ending in a slash that every key shares."""
    p = os.path.commonprefix(keys)
    return p[: p.rfind("/") + 1]


def list_sizes(cfg, client, keys, counters):
    """List the bucket under the keys' common prefix (each page counted)
    and return every key's size, as the Go suite takes them."""
    sizes, token = {}, None
    prefix = common_prefix(keys)
    while True:
        kw = {"Bucket": cfg["bucket_name"], "Prefix": prefix}
        if token:
            kw["ContinuationToken"] = token
        page = client.list_objects_v2(**kw)
        counters.add(Counters.LISTS)
        for o in page.get("Contents", []):
            sizes[o["Key"]] = o["Size"]
        if not page.get("IsTruncated"):
            break
        token = page["NextContinuationToken"]
    out = []
    for i, k in enumerate(keys):
        if k not in sizes:
            raise UsageError(f"index entry {i}, {k!r}: not found in s3://{cfg['bucket_name']}/{prefix}")
        out.append(sizes[k])
    return out


class S3Items(Dataset):
    """The dataset's items, one GET each. Each worker makes its own client
    after the fork (open); sync fetches one item a __getitem__, async a
    batch of indices at once on the worker's thread pool."""

    def __init__(self, cfg, keys, sizes, counters, threads):
        self.cfg, self.keys, self.sizes = cfg, keys, sizes
        self.counters, self.threads = counters, threads
        self.client, self.pool, self.slot = None, None, 0

    def __len__(self):
        return len(self.keys)

    def open(self, slot):
        """Make this process's client and pool (worker_init_fn)."""
        self.slot = slot
        self.client = make_client(self.cfg, self.threads)
        if self.threads > 1:
            self.pool = ThreadPoolExecutor(max_workers=self.threads)

    def fetch(self, i):
        """Read item i whole; return it, its index and its time."""
        t0 = time.perf_counter_ns()
        key = self.keys[i]
        body = self.client.get_object(Bucket=self.cfg["bucket_name"], Key=key)["Body"].read()
        t = time.perf_counter_ns() - t0
        self.counters.get(len(body))
        if len(body) != self.sizes[i]:
            raise IOError(f"item {i}, {key!r}: read {len(body)} bytes, want {self.sizes[i]}")
        return i, body, t

    def __getitem__(self, i):
        if isinstance(i, list):  # async: a batch's indices
            t0 = time.perf_counter_ns()
            items = list(self.pool.map(self.fetch, i))
            self._cpu()
            return items, time.perf_counter_ns() - t0
        item = self.fetch(i)
        self._cpu()
        return item

    def _cpu(self):
        self.counters.cpu[self.slot] = time.process_time_ns()


def init_worker(worker_id):
    info = torch.utils.data.get_worker_info()
    info.dataset.open(worker_id)


def collate_sync(items):
    """A batch as its items, raw (index, bytes, ns), and its fetch time:
    the sum of its items' times, as they were fetched one by one."""
    return items, sum(t for _, _, t in items)


def collate_async(batch):
    return batch


def make_loader(ds, mode, workers, batch, prefetch):
    common = dict(
        num_workers=workers,
        persistent_workers=True,
        prefetch_factor=prefetch,
        worker_init_fn=init_worker,
        multiprocessing_context="fork",
    )
    if mode == "sync":
        return DataLoader(ds, batch_size=batch, shuffle=False, drop_last=False, collate_fn=collate_sync, **common)
    sampler = BatchSampler(SequentialSampler(range(len(ds))), batch_size=batch, drop_last=False)
    return DataLoader(ds, batch_size=None, sampler=sampler, collate_fn=collate_async, **common)


def percentile(sorted_vals, p):
    """The p-quantile of sorted values, by nearest rank."""
    if not sorted_vals:
        return 0
    k = max(0, math.ceil(p * len(sorted_vals)) - 1)
    return sorted_vals[k]


def main_cpu_ns():
    return time.process_time_ns()


def run_case(cfg, keys, sizes, mode, workers, batch, prefetch, benchtime, counters):
    """Run one case; return its metrics over the timed run."""
    threads = batch if mode == "async" else 1
    ds = S3Items(cfg, keys, sizes, counters, threads)
    for w in range(workers):
        counters.cpu[w] = 0
    loader = make_loader(ds, mode, workers, batch, prefetch)
    min_ns, min_items = benchtime
    warm_batches = (prefetch + 1) * workers
    seen = 0  # batches received, warm-up included
    timed_items = timed_bytes = 0
    getitem, fetch = [], []
    t0 = cpu0 = wcpu0 = None
    gaps = []  # from an epoch's last batch to the next one's first, timed
    last = None
    epoch = 0
    while True:
        expect = 0  # the next item index this epoch
        for items, fetch_ns in loader:
            now = time.perf_counter_ns()
            if expect == 0 and t0 is not None and last is not None:
                gaps.append(now - last)
            last = now
            for i, body, _ in items:
                if i != expect:
                    raise IOError(f"epoch {epoch}: item {i} arrived where {expect} was due")
                expect += 1
            seen += 1
            if t0 is not None:
                timed_items += len(items)
                timed_bytes += sum(len(b) for _, b, _ in items)
                getitem.extend(t for _, _, t in items)
                fetch.append(fetch_ns)
            elif seen == warm_batches:
                t0, cpu0, wcpu0 = time.perf_counter_ns(), main_cpu_ns(), counters.worker_cpu()
        if expect != len(keys):
            raise IOError(f"epoch {epoch}: {expect} items of {len(keys)}")
        epoch += 1
        if t0 is None:
            continue  # the warm-up spans epochs
        elapsed = time.perf_counter_ns() - t0
        if timed_items > 0 and elapsed >= min_ns and timed_items >= min_items:
            break
    cpu = (main_cpu_ns() - cpu0) + (counters.worker_cpu() - wcpu0)
    del loader  # shuts the persistent workers down
    getitem.sort()
    fetch.sort()
    out = {
        "n": timed_items,
        "ns/op": elapsed / timed_items,
        "MB/s": timed_bytes / elapsed * 1e3,
        "B/item": timed_bytes / timed_items,
        "items/s": timed_items / elapsed * 1e9,
        "getitem-mean-ns": sum(getitem) / len(getitem),
        "getitem-median-ns": percentile(getitem, 0.5),
        "getitem-p99-ns": percentile(getitem, 0.99),
        "fetch-mean-ns": sum(fetch) / len(fetch),
        "fetch-p99-ns": percentile(fetch, 0.99),
        "cpu-ns/item": cpu / timed_items,
        "run-ns": elapsed,
    }
    if gaps:
        out["epoch-gap-mean-ns"] = sum(gaps) / len(gaps)
    return out


def parse_benchtime(s):
    """-benchtime as go test takes it: a duration (1s, 500ms, 2m) or Nx
    items. Returns (minimum ns, minimum items)."""
    m = re.fullmatch(r"(\d+)x", s)
    if m and int(m.group(1)) > 0:
        return 0, int(m.group(1))
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", s)
    if not m:
        raise UsageError(f"-benchtime {s!r}: want a duration such as 1s or a count such as 400x")
    scale = {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}[m.group(2)]
    return int(float(m.group(1)) * scale), 1


def int_list(name, s):
    try:
        vals = [int(v) for v in s.split(",")]
    except ValueError:
        raise UsageError(f"{name} {s!r}: want a comma-separated list of integers") from None
    if any(v < 1 for v in vals):
        raise UsageError(f"{name} {s!r}: want integers >= 1")
    return vals


def go_suffix(from_file):
    """The -N suffix go test gives names: that of the first benchmark line
    of a Go result file when given, else GOMAXPROCS if set, else the CPUs
    this process may run on, within a cgroup's CPU limit, as Go sets it."""
    if from_file:
        with open(from_file, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"Benchmark\S*?-(\d+)\s", line)
                if m:
                    return int(m.group(1))
    if os.environ.get("GOMAXPROCS", "").isdigit() and int(os.environ["GOMAXPROCS"]) > 0:
        return int(os.environ["GOMAXPROCS"])
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()
        if quota != "max":
            n = min(n, max(2, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return n


def header(from_file):
    """goos, goarch, pkg and cpu lines: those of a Go result file when
    given (so that benchstat sees one machine), else this machine's."""
    if from_file:
        lines = {}
        try:
            f = open(from_file, encoding="utf-8")
        except OSError as e:
            raise UsageError(f"-header-from {from_file}: {e.strerror}") from None
        with f:
            for line in f:
                k, sep, _ = line.partition(":")
                if sep and k in ("goos", "goarch", "pkg", "cpu") and k not in lines:
                    lines[k] = line.rstrip("\n")
        if len(lines) == 4:
            return [lines[k] for k in ("goos", "goarch", "pkg", "cpu")]
        raise UsageError(f"-header-from {from_file}: no goos, goarch, pkg and cpu lines")
    arch = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386"}.get(platform.machine(), platform.machine())
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return [f"goos: {sys.platform}", f"goarch: {arch}", f"pkg: {PKG}", f"cpu: {cpu}"]


def fmt(v):
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def main(argv):
    for k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        if os.environ.get(k) == "":
            del os.environ[k]  # empty is unset, not a profile named ""
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="loadbench.py",
        description="PyTorch's DataLoader and boto3 reading a seed-format S3 dataset; "
        "BenchmarkLoad's lines with client=torch.",
    )
    p.add_argument("-s3-config", default=env("STORAGEBENCH_S3_CONFIG", ""),
                   help="seed-format S3 configuration (STORAGEBENCH_S3_CONFIG)")
    p.add_argument("-modes", default=env("STORAGEBENCH_MODES", "sync,async"),
                   help="sync, async or both (STORAGEBENCH_MODES; default sync,async)")
    p.add_argument("-workers", default=env("STORAGEBENCH_WORKERS", "2,4,8,16,32"),
                   help="DataLoader workers (STORAGEBENCH_WORKERS; default 2,4,8,16,32)")
    p.add_argument("-batch", default=env("STORAGEBENCH_BATCH", "50"),
                   help="batch size (STORAGEBENCH_BATCH; default 50)")
    p.add_argument("-prefetch", default=env("STORAGEBENCH_PREFETCH", "2"),
                   help="prefetch_factor, batches a worker holds (STORAGEBENCH_PREFETCH; default 2)")
    p.add_argument("-benchtime", default="1s", help="least time (1s) or items (400x) a timed run lasts")
    p.add_argument("-count", type=int, default=1, help="runs of each case")
    p.add_argument("-header-from", default="", help="copy goos, goarch, pkg and cpu from this Go result file")
    a = p.parse_args(argv)

    if not a.s3_config:
        raise UsageError("-s3-config (or STORAGEBENCH_S3_CONFIG): want a seed-format S3 configuration file")
    modes = a.modes.split(",")
    for m in modes:
        if m not in ("sync", "async"):
            raise UsageError(f"-modes {a.modes!r}: {m!r} is not sync or async")
    workers = int_list("-workers", a.workers)
    batches = int_list("-batch", a.batch)
    prefetch = int_list("-prefetch", a.prefetch)
    if len(prefetch) != 1:
        raise UsageError(f"-prefetch {a.prefetch!r}: want one value")
    benchtime = parse_benchtime(a.benchtime)
    if a.count < 1:
        raise UsageError(f"-count {a.count}: want >= 1")
    cfg = load_config(a.s3_config)
    head = header(a.header_from)

    ctx = multiprocessing.get_context("fork")
    counters = Counters(ctx, max(workers))
    client = make_client(cfg, 1)
    keys = read_index(cfg, client, counters)
    sizes = list_sizes(cfg, client, keys, counters)

    profile = cfg.get("profile") or "none"
    endpoint = "loopback-s3" if re.match(r"https?://(127\.|localhost|\[::1\])", cfg.get("endpoint_url") or "") else "remote-s3"
    for k, v in (
        ("dataset-items", len(keys)),
        ("dataset-mean-bytes", round(sum(sizes) / len(sizes))),
        ("dataset-max-bytes", max(sizes)),
        ("endpoint", endpoint),
        ("loader-prefetch", prefetch[0]),
        ("store-profile", profile),
        ("torch-version", torch.__version__),
        ("boto3-version", boto3.__version__),
        ("python-version", platform.python_version()),
    ):
        print(f"{k}: {v}")
    for line in head:
        print(line)
    sys.stdout.flush()

    suffix = go_suffix(a.header_from)
    name = "BenchmarkLoad/backend=s3/profile=" + profile
    if cfg.get("faults"):
        name += "/faults=" + cfg["faults"]
    for _ in range(a.count):
        for mode in modes:
            for w in workers:
                for b in batches:
                    r = run_case(cfg, keys, sizes, mode, w, b, prefetch[0], benchtime, counters)
                    units = " ".join(f"{fmt(r[u])} {u}" for u in (
                        "MB/s", "B/item", "cpu-ns/item", "epoch-gap-mean-ns", "fetch-mean-ns", "fetch-p99-ns",
                        "getitem-mean-ns", "getitem-median-ns", "getitem-p99-ns", "items/s", "run-ns") if u in r)
                    print(f"{name}/mode={mode}/workers={w}/batch={b}/client=torch-{suffix}\t{r['n']}\t{r['ns/op']:.0f} ns/op\t{units}", flush=True)
    gets, nbytes, lists = counters.req[:]
    print(f"loadbench: client requests: {gets} GetObject, {nbytes} bytes; {lists} ListObjectsV2", file=sys.stderr)


def one_line(e):
    """An error as one line: a DataLoader worker's error arrives with the
    worker's traceback in its message; its last line says what failed."""
    lines = [l for l in str(e).splitlines() if l.strip() and not l.startswith(" ")]
    return lines[-1] if lines else type(e).__name__


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except UsageError as e:
        print(f"loadbench: {e}", file=sys.stderr)
        sys.exit(2)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError, RuntimeError, ValueError) as e:
        print(f"loadbench: {one_line(e)}", file=sys.stderr)
        sys.exit(1)
