#!/usr/bin/env python3
"""Side-by-side ingest benchmark: the same remote-write load sent to Diamond and to the reference
Prometheus, each on a fresh data directory, measured from outside through /proc.

Figures per system:
  - CPU seconds per million samples ingested (user+sys of the server process during the load);
  - resident memory per active series (VmRSS after the load minus VmRSS before, over the series count);
  - WAL replay time: the server is killed with SIGKILL after the load and restarted; time until /-/ready.

Usage: scripts/bench-vs-prometheus.py [--series 100000] [--rounds 10] [--replay-series 1000000]
                                     [--bin-dir DIR] [--out FILE] [--systems diamond,prometheus]
Prints a Markdown table (ratios Diamond/Prometheus) and writes bench-out/ingest.json (or --out).
Build first: cargo build --release -p diamond-server -p diamond-bench; --bin-dir points at another build's
binaries (e.g. target-rwperf/release, or a saved copy of a baseline build).
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where `diamond` and `rw-load` are; --bin-dir changes it.
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


def wait_ready(port, proc, timeout=600):
    start = time.time()
    while time.time() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
                if r.status == 200:
                    return time.time() - start
        except Exception:
            pass
        time.sleep(0.05)
    raise RuntimeError("server not ready in time")


def start(system, data, port, cfg):
    if system == "diamond":
        cmd = [os.path.join(BIN_DIR, "diamond"), "serve", f"--web.listen-address=127.0.0.1:{port}",
               f"--storage.tsdb.path={data}", f"--config.file={cfg}", "--log.level=warn"]
    else:
        prom = subprocess.check_output(["bash", os.path.join(ROOT, "../shared/tools/reference-prometheus")],
                                       stderr=subprocess.DEVNULL, text=True).strip().splitlines()[-1]
        cmd = [prom, f"--config.file={cfg}", f"--storage.tsdb.path={data}", f"--web.listen-address=127.0.0.1:{port}",
               "--web.enable-remote-write-receiver", "--enable-feature=exemplar-storage", "--log.level=warn"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc


def load(port, series, rounds):
    out = subprocess.check_output([os.path.join(BIN_DIR, "rw-load"), f"--url=http://127.0.0.1:{port}/api/v1/write",
                                   f"--series={series}", f"--rounds={rounds}", "--concurrency=2"], text=True)
    return json.loads(out.strip().splitlines()[-1])


def run(system, series, rounds, replay_series):
    tmp = tempfile.mkdtemp(prefix=f"bench-{system}-")
    cfg = os.path.join(tmp, "cfg.yml")
    with open(cfg, "w") as f:
        f.write("scrape_configs: []\n")
    res = {"system": system}
    try:
        port = free_port()
        data = os.path.join(tmp, "data")
        p = start(system, data, port, cfg)
        wait_ready(port, p)
        time.sleep(2)
        rss0, cpu0 = rss_bytes(p.pid), cpu_seconds(p.pid)
        r = load(port, series, rounds)
        time.sleep(1)
        cpu1, rss1 = cpu_seconds(p.pid), rss_bytes(p.pid)
        res.update(samples=r["samples"], load_elapsed_s=r["elapsed_s"],
                   cpu_s_per_million=(cpu1 - cpu0) / (r["samples"] / 1e6),
                   rss_before=rss0, rss_after=rss1, bytes_per_series=(rss1 - rss0) / series)
        p.kill()
        p.wait()
        # Replay: a separate population so the figure is for `replay_series` series.
        shutil.rmtree(data)
        port = free_port()
        p = start(system, data, port, cfg)
        wait_ready(port, p)
        load(port, replay_series, 2)
        p.kill()
        p.wait()
        port = free_port()
        t0 = time.time()
        p = start(system, data, port, cfg)
        res["replay_s"] = wait_ready(port, p)
        res["replay_series"] = replay_series
        res["rss_after_replay"] = rss_bytes(p.pid)
        p.kill()
        p.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return res


def main():
    global BIN_DIR
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--replay-series", type=int, default=1_000_000)
    ap.add_argument("--bin-dir", default=BIN_DIR, help="directory of the diamond and rw-load binaries")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench-out/ingest.json"), help="JSON results file")
    ap.add_argument("--systems", default="diamond,prometheus",
                    help="comma-separated subset of diamond,prometheus (one alone prints its figures only)")
    a = ap.parse_args()
    BIN_DIR = os.path.abspath(a.bin_dir)
    systems = [s for s in a.systems.split(",") if s]
    results = [run(s, a.series, a.rounds, a.replay_series) for s in systems]
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(results, f, indent=2)
    if len(results) != 2:
        print(json.dumps(results, indent=2))
        return
    d, p = results
    rows = [
        ("remote-write CPU-seconds per million samples", "cpu_s_per_million", "{:.3f}"),
        (f"resident bytes per active series ({a.series} series)", "bytes_per_series", "{:.0f}"),
        (f"WAL replay to ready, {a.replay_series} series (s)", "replay_s", "{:.2f}"),
        ("load wall time (s)", "load_elapsed_s", "{:.2f}"),
    ]
    print("| measure | Diamond | Prometheus 3.5 | ratio |")
    print("|---|---|---|---|")
    for name, key, fmt in rows:
        ratio = d[key] / p[key] if p[key] else float("nan")
        print(f"| {name} | {fmt.format(d[key])} | {fmt.format(p[key])} | {ratio:.2f}× |")


if __name__ == "__main__":
    sys.exit(main())
