#!/usr/bin/env python3
"""Issue 5's exemplar benchmarks, Diamond side by side with the reference Prometheus 3.5 at the same
`storage.exemplars.max_exemplars` (Prometheus runs with --enable-feature=exemplar-storage). Both receive the
same remote-write stream from `exemplar-load` (crates/bench/src/bin/exemplar_load.rs).

Parts (--parts, comma-separated; default all):
  coverage  a skewed stream: --cov-series series, the first 10% hot at 100x the exemplar rate, --cov-minutes
            of simulated time, --cov-budget max_exemplars (offered >> budget). Figure: the fraction of
            (series, minute) pairs that received an exemplar and still hold one at the end.
  memory    --mem-exemplars exemplars into a store of exactly that budget (prebuilt bodies), and the same
            stream without exemplars on a fresh process: RSS difference per exemplar held; Diamond's own
            heap accounting (diamond_exemplar_memory_bytes); server CPU-seconds per million exemplars
            (difference to the no-exemplar run) and wall time; bytes per exemplar on disk (Diamond's
            exemplars/head.snapshot after a clean stop, and WAL growth for both). --repeats runs, interleaved.
  query     query_exemplars latency with --query-sizes stored exemplars (e.g. 100000,10000000): both
            servers filled, then the queries interleaved, --query-reps each, medians reported.

All data lives under --work (default /tmp/exemplars/bench) and is deleted at the end.
Build first: cargo build --release -p diamond-server -p diamond-bench
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN_DIR = os.path.join(ROOT, "target/release")
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def prometheus_binary():
    tool = os.path.join(ROOT, "../shared/tools/reference-prometheus")
    if not os.path.exists(tool):
        tool = "/work/shared/tools/reference-prometheus"
    out = subprocess.check_output(["bash", tool],
                                  stderr=subprocess.DEVNULL, text=True)
    return out.strip().splitlines()[-1]


class Server:
    def __init__(self, system, work, budget):
        self.system = system
        self.dir = os.path.join(work, f"{system}-{budget}-{time.time_ns()}")
        os.makedirs(self.dir)
        self.data = os.path.join(self.dir, "data")
        self.cfg = os.path.join(self.dir, "cfg.yml")
        with open(self.cfg, "w") as f:
            f.write(f"storage:\n  exemplars:\n    max_exemplars: {budget}\nscrape_configs: []\n")
        self.port = free_port()
        if system == "diamond":
            cmd = [os.path.join(BIN_DIR, "diamond"), "serve", f"--web.listen-address=127.0.0.1:{self.port}",
                   f"--storage.tsdb.path={self.data}", f"--config.file={self.cfg}", "--log.level=warn"]
        else:
            cmd = [prometheus_binary(), f"--config.file={self.cfg}", f"--storage.tsdb.path={self.data}",
                   f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-remote-write-receiver",
                   "--enable-feature=exemplar-storage", "--log.level=warn"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{system} exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url("/-/ready"), timeout=2) as r:
                    if r.status == 200:
                        break
            except Exception:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{system} not ready")
        time.sleep(1)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def metric(self, name):
        with urllib.request.urlopen(self.url("/metrics"), timeout=30) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    return float(line.rsplit(" ", 1)[1])
        return None

    def load(self, *args):
        cmd = [os.path.join(BIN_DIR, "exemplar-load"), f"--url={self.url('/api/v1/write')}", *args]
        out = subprocess.check_output(cmd, text=True)
        return json.loads(out.strip().splitlines()[-1])

    def exemplars(self, query, start, end):
        q = urllib.parse.urlencode({"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}"})
        t0 = time.perf_counter()
        with urllib.request.urlopen(self.url(f"/api/v1/query_exemplars?{q}"), timeout=300) as r:
            body = r.read()
        dt = time.perf_counter() - t0
        v = json.loads(body)
        assert v["status"] == "success", v
        return v["data"], dt, len(body)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def remove(self):
        self.stop(signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


def coverage(a, work):
    series, minutes, budget = a.cov_series, a.cov_minutes, a.cov_budget
    hot = series // 10
    out = {}
    for system in ("diamond", "prometheus"):
        s = Server(system, work, budget)
        try:
            r = s.load(f"--series={series}", f"--hot={hot}", "--rate=1", "--hot-factor=100",
                       f"--minutes={minutes}", "--ticks=4")
            start, end = r["start_ms"], r["end_ms"]
            data, _, _ = s.exemplars("exload_total", start / 1000, end / 1000)
            pairs = {"hot": set(), "cold": set()}
            held = 0
            for ser in data:
                g = ser["seriesLabels"]["group"]
                for e in ser["exemplars"]:
                    m = int((round(float(e["timestamp"]) * 1000) - start) // 60000)
                    pairs[g].add((ser["seriesLabels"]["series"], m))
                    held += 1
            want_hot, want_cold = hot * minutes, (series - hot) * minutes
            out[system] = {
                "offered": r["exemplars"], "held": held, "budget": budget,
                "coverage": (len(pairs["hot"]) + len(pairs["cold"])) / (want_hot + want_cold),
                "coverage_hot": len(pairs["hot"]) / want_hot,
                "coverage_cold": len(pairs["cold"]) / want_cold,
                "series_with_any": len({k for k, _ in pairs["hot"] | pairs["cold"]}),
                "load_s": r["elapsed_s"],
            }
            print(system, json.dumps(out[system]), file=sys.stderr)
        finally:
            s.remove()
    return out


def memory(a, work):
    n = a.mem_exemplars
    series, minutes = 1000, 30
    rate = -(-n // (series * minutes))  # ceil
    common = [f"--series={series}", "--hot=0", f"--rate={rate}", f"--minutes={minutes}", "--ticks=4", "--prebuild"]
    runs = []
    for rep in range(a.repeats):
        for system in ("diamond", "prometheus"):
            for ex in (True, False):
                s = Server(system, work, n)
                try:
                    rss0, cpu0 = rss_bytes(s.proc.pid), cpu_seconds(s.proc.pid)
                    r = s.load(*common, *([] if ex else ["--no-exemplars"]))
                    time.sleep(2)
                    cpu1, rss1 = cpu_seconds(s.proc.pid), rss_bytes(s.proc.pid)
                    held = s.metric("prometheus_tsdb_exemplar_exemplars_in_storage") or 0
                    heap = s.metric("diamond_exemplar_memory_bytes") if system == "diamond" else None
                    wal = dir_bytes(os.path.join(s.data, "wal"))
                    s.stop()
                    snap = dir_bytes(os.path.join(s.data, "exemplars")) if system == "diamond" else None
                    run = {"rep": rep, "system": system, "exemplars": ex, "offered": r["exemplars"],
                           "samples": r["samples"], "held": held, "rss_before": rss0, "rss_after": rss1,
                           "cpu_s": cpu1 - cpu0, "wall_s": r["elapsed_s"], "wal_bytes": wal,
                           "heap_bytes": heap, "snapshot_bytes": snap}
                    runs.append(run)
                    print(json.dumps(run), file=sys.stderr)
                finally:
                    s.remove()
    out = {}
    for system in ("diamond", "prometheus"):
        per = []
        for rep in range(a.repeats):
            w = next(x for x in runs if x["rep"] == rep and x["system"] == system and x["exemplars"])
            b = next(x for x in runs if x["rep"] == rep and x["system"] == system and not x["exemplars"])
            per.append({
                "rss_per_held": (w["rss_after"] - b["rss_after"]) / w["held"],
                "cpu_s_per_million": (w["cpu_s"] - b["cpu_s"]) / (w["offered"] / 1e6),
                "wall_exemplars_per_s": w["offered"] / w["wall_s"],
                "wall_s": w["wall_s"], "wall_s_noex": b["wall_s"],
                "wal_per_offered": (w["wal_bytes"] - b["wal_bytes"]) / w["offered"],
                "heap_per_held": (w["heap_bytes"] / w["held"]) if w["heap_bytes"] else None,
                "snapshot_per_held": (w["snapshot_bytes"] / w["held"]) if w["snapshot_bytes"] else None,
                "held": w["held"],
            })
        med = {k: statistics.median([p[k] for p in per]) if per[0][k] is not None else None for k in per[0]}
        out[system] = {"median": med, "runs": per}
    return out


QUERIES = [
    ("one series, all time", 'exload_total{series="s00042"}', None),
    ("10 series (regex), all time", 'exload_total{series=~"s0001."}', None),
    ("every series, 1 s range", "exload_total", 1.0),
]


def query(a, work):
    out = {}
    for size in [int(x) for x in a.query_sizes.split(",") if x]:
        series = 10_000 if size >= 1_000_000 else 1000
        minutes = 30
        rate = -(-size // (series * minutes))
        servers = {}
        try:
            info = {}
            for system in ("diamond", "prometheus"):
                s = Server(system, work, size)
                servers[system] = s
                t0 = time.time()
                r = s.load(f"--series={series}", "--hot=0", f"--rate={rate}", f"--minutes={minutes}", "--ticks=4",
                           "--batch=500")
                info[system] = {"offered": r["exemplars"], "fill_s": time.time() - t0,
                                "held": s.metric("prometheus_tsdb_exemplar_exemplars_in_storage"),
                                "rss": rss_bytes(s.proc.pid)}
                start, end = r["start_ms"] / 1000, r["end_ms"] / 1000
                print(system, size, json.dumps(info[system]), file=sys.stderr)
            lat = {system: {q[0]: [] for q in QUERIES} for system in servers}
            counts = {system: {} for system in servers}
            mid = (start + end) / 2
            for rep in range(a.query_reps):
                order = ("diamond", "prometheus") if rep % 2 == 0 else ("prometheus", "diamond")
                for name, q, rng in QUERIES:
                    for system in order:
                        lo, hi = (mid, mid + rng) if rng else (start, end)
                        data, dt, nbytes = servers[system].exemplars(q, lo, hi)
                        lat[system][name].append(dt)
                        counts[system][name] = (sum(len(x["exemplars"]) for x in data), nbytes)
            out[size] = {"info": info, "queries": {
                system: {name: {"median_ms": statistics.median(v) * 1000, "min_ms": min(v) * 1000,
                                "returned": counts[system][name][0], "bytes": counts[system][name][1]}
                         for name, v in lat[system].items()} for system in servers}}
            print(json.dumps(out[size]), file=sys.stderr)
        finally:
            for s in servers.values():
                s.remove()
    return out


def main():
    global BIN_DIR
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="coverage,memory,query")
    ap.add_argument("--cov-series", type=int, default=1000)
    ap.add_argument("--cov-minutes", type=int, default=30)
    ap.add_argument("--cov-budget", type=int, default=40_000)
    ap.add_argument("--mem-exemplars", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--query-sizes", default="100000,10000000")
    ap.add_argument("--query-reps", type=int, default=15)
    ap.add_argument("--work", default="/tmp/exemplars/bench")
    ap.add_argument("--bin-dir", default=BIN_DIR)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench-out/exemplars.json"))
    a = ap.parse_args()
    BIN_DIR = os.path.abspath(a.bin_dir)
    os.makedirs(a.work, exist_ok=True)
    results = {}
    try:
        parts = a.parts.split(",")
        if "coverage" in parts:
            results["coverage"] = coverage(a, a.work)
        if "memory" in parts:
            results["memory"] = memory(a, a.work)
        if "query" in parts:
            results["query"] = query(a, a.work)
    finally:
        shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(results, f, indent=2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
