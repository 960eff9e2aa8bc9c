#!/usr/bin/env python3
"""Side-by-side storage benchmark (issue 4): Diamond and the reference Prometheus 3.5 receive the same day of
data by remote write, cut it into blocks and compact them; measured from outside.

Phase `storage`, once per --kinds entry (node, histogram; crates/bench/src/bin/blocks_load.rs describes the
series): both servers run at once on fresh data directories with the same block flags; blocks-load sends
every window of samples (20 steps of 15 s per series) to Diamond, then to Prometheus, oldest first, --hours
of data ending at the current minute. Then the script waits until neither server has cut or compacted a
block for --settle-s (bounded by --settle-timeout-s). Figures:
  - bytes per sample in blocks: the sum of the file sizes of every block directory (meta.json, index,
    chunks/*, tombstones) over the sum of the blocks' meta.json numSamples (both servers write the same
    block format; both counts are printed, and the sample totals are checked equal by a query);
  - resident memory: VmRSS of each server sampled after every window (at most once a second), reported when
    a quarter, half, three quarters and all of the data had been written and at the end (after settling), and the peak;
  - query latency over data in blocks (node: rate, sum by (instance) of rate; histogram: rate and
    histogram_quantile of sum by (le) of rate) as range queries over 1 h and 6 h ending 6 h before the
    newest sample (so every sample read is in a block), step 15 s: --query-reps repetitions alternating
    Diamond/Prometheus after one warm-up each, medians; the answers are compared.

Phase `startup`: each server on a fresh directory receives --startup-series series × --startup-rounds
samples (rw-load, node-exporter-like labels), is killed with SIGKILL (a full WAL, no block yet), and is
then restarted --startup-reps times, alternating Diamond/Prometheus, each time killed with SIGKILL once
/-/ready answers; the figure is the median time from exec to the first 200 from /-/ready.

Every loop is bounded in count and time; data lives under --workdir (default /tmp/blocks) and is deleted
at the end (--keep keeps it).

Usage: scripts/bench-blocks-vs-prometheus.py [--phases storage,startup] [--kinds node,histogram]
       [--series 10000] [--hours 24] [--startup-series 1000000] [--startup-rounds 10]
Build first: cargo build --release -p diamond-server -p diamond-bench
Prints Markdown tables (ratios Diamond/Prometheus) and writes bench-out/blocks.json.
"""
import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, path))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


bvp = _load("bvp", "scripts/bench-vs-prometheus.py")  # free_port, rss_bytes, wait_ready
pq = _load("pq", "scripts/bench-promql-vs-prometheus.py")  # get, answers_match

SYSTEMS = ("diamond", "prometheus")

QUERIES = {
    "node": [
        ("rate", "rate(node_cpu_seconds_total[5m])"),
        ("sum by (instance) (rate)", "sum by (instance) (rate(node_cpu_seconds_total[5m]))"),
    ],
    "histogram": [
        ("rate", "rate(http_request_duration_seconds_bucket[5m])"),
        ("histogram_quantile(sum by (le) (rate))",
         "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"),
    ],
}


def prom_bin():
    """$DIAMOND_REFERENCE_PROMETHEUS, else what ../shared/tools/reference-prometheus prints (from the main
    checkout or from a worktree under /work/wt)."""
    if os.environ.get("DIAMOND_REFERENCE_PROMETHEUS"):
        return os.environ["DIAMOND_REFERENCE_PROMETHEUS"]
    for tool in (os.path.join(ROOT, "../shared/tools/reference-prometheus"),
                 os.path.join(ROOT, "../../shared/tools/reference-prometheus")):
        if os.path.exists(tool):
            out = subprocess.check_output(["bash", tool], stderr=subprocess.DEVNULL, text=True)
            return out.strip().splitlines()[-1]
    raise RuntimeError("no reference Prometheus: set DIAMOND_REFERENCE_PROMETHEUS or pass --prometheus")


def start(a, system, data, port, cfg):
    if system == "diamond":
        cmd = [os.path.join(a.bin_dir, "diamond"), "serve", f"--web.listen-address=127.0.0.1:{port}",
               f"--storage.tsdb.path={data}", f"--config.file={cfg}", "--log.level=warn"]
    else:
        cmd = [a.prometheus, f"--config.file={cfg}", f"--storage.tsdb.path={data}",
               f"--web.listen-address=127.0.0.1:{port}", "--web.enable-remote-write-receiver", "--log.level=warn"]
    cmd += a.block_flags.split()
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def blocks(data):
    """(ulid, minTime, maxTime, level, numSamples, bytes, allocated bytes) of every block directory."""
    out = []
    for name in sorted(os.listdir(data)):
        d = os.path.join(data, name)
        meta = os.path.join(d, "meta.json")
        if len(name) != 26 or not os.path.isfile(meta):
            continue
        try:
            with open(meta) as f:
                m = json.load(f)
        except (OSError, ValueError):
            continue  # being written or deleted right now
        size = alloc = 0
        for root, _, files in os.walk(d):
            for fn in files:
                try:
                    st = os.stat(os.path.join(root, fn))
                except OSError:
                    continue
                size += st.st_size
                alloc += st.st_blocks * 512
        out.append((name, m["minTime"], m["maxTime"], m["compaction"]["level"], m["stats"]["numSamples"], size, alloc))
    return out


def rss_parts(pid):
    """(VmRSS, RssAnon, RssFile) in bytes."""
    want = {"VmRSS:": 0, "RssAnon:": 0, "RssFile:": 0}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k = line.split(":", 1)[0] + ":"
            if k in want:
                want[k] = int(line.split()[1]) * 1024
    return want["VmRSS:"], want["RssAnon:"], want["RssFile:"]


def dir_bytes(d):
    n = 0
    for root, _, files in os.walk(d):
        for fn in files:
            try:
                n += os.stat(os.path.join(root, fn)).st_size
            except OSError:
                pass
    return n


def instant(port, expr, t_ms):
    _, body, st = pq.get(port, "/api/v1/query", {"query": expr, "time": f"{t_ms / 1000:.3f}"})
    if st != 200:
        raise RuntimeError(f"{expr}: HTTP {st}: {body[:300]!r}")
    return json.loads(body)["data"]["result"]


def storage_phase(a, kind, cfg):
    work = os.path.join(a.workdir, f"storage-{kind}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    procs, ports, res = {}, {}, {"kind": kind, "series": a.series, "hours": a.hours}
    try:
        for s in SYSTEMS:
            ports[s] = bvp.free_port()
            procs[s] = start(a, s, os.path.join(work, s), ports[s], cfg)
            bvp.wait_ready(ports[s], procs[s])
        time.sleep(2)
        rss0 = {s: bvp.rss_bytes(procs[s].pid) for s in SYSTEMS}
        end_ms = int(time.time() // 60) * 60 * 1000
        gen = [os.path.join(a.bin_dir, "blocks-load"), f"--kind={kind}", f"--series={a.series}",
               f"--hours={a.hours}", f"--end-ms={end_ms}", f"--max-seconds={a.load_timeout_s}"]
        gen += [f"--url=http://127.0.0.1:{ports[s]}/api/v1/write" for s in SYSTEMS]
        print("loading:", " ".join(gen), file=sys.stderr)
        samples = []  # (wall s, data time ms, rss diamond, rss prometheus)
        t0 = time.time()
        g = subprocess.Popen(gen, stdout=subprocess.PIPE, text=True)
        last, summary = 0.0, None
        for line in g.stdout:
            j = json.loads(line)
            if j.get("done"):
                summary = j
                continue
            now = time.time()
            if now - last >= 1.0:
                samples.append((now - t0, j["t_ms"], *(bvp.rss_bytes(procs[s].pid) for s in SYSTEMS),
                                [rss_parts(procs[s].pid) for s in SYSTEMS]))
                last = now
        if g.wait() != 0 or summary is None:
            raise RuntimeError(f"blocks-load failed ({g.returncode})")
        print("loaded:", summary, file=sys.stderr)
        res["load"] = summary
        # Settle: until no block appears or disappears on either side for settle_s (bounded).
        seen, stable_since, t_settle = None, time.time(), time.time()
        while time.time() - t_settle < a.settle_timeout_s:
            now = [tuple(b[0] for b in blocks(os.path.join(work, s))) for s in SYSTEMS]
            if now != seen:
                seen, stable_since = now, time.time()
            elif time.time() - stable_since >= a.settle_s:
                break
            samples.append((time.time() - t0, end_ms, *(bvp.rss_bytes(procs[s].pid) for s in SYSTEMS),
                            [rss_parts(procs[s].pid) for s in SYSTEMS]))
            time.sleep(2)
        res["settled_after_s"] = time.time() - t_settle
        res["rss_before"] = rss0
        res["rss_samples"] = samples
        res["rss_end"] = {s: bvp.rss_bytes(procs[s].pid) for s in SYSTEMS}
        res["rss_end_parts"] = {s: rss_parts(procs[s].pid) for s in SYSTEMS}
        res["rss_peak"] = {s: max(x[2 + i] for x in samples) for i, s in enumerate(SYSTEMS)}
        res["blocks"] = {s: blocks(os.path.join(work, s)) for s in SYSTEMS}
        res["wal_bytes"] = {s: dir_bytes(os.path.join(work, s, "wal")) for s in SYSTEMS}
        for s in SYSTEMS:
            bl = res["blocks"][s]
            res.setdefault("block_samples", {})[s] = sum(b[4] for b in bl)
            res.setdefault("block_bytes", {})[s] = sum(b[5] for b in bl)
            res.setdefault("block_alloc", {})[s] = sum(b[6] for b in bl)
            res.setdefault("bytes_per_sample", {})[s] = (
                sum(b[5] for b in bl) / max(1, sum(b[4] for b in bl)))
        try:
            # Both hold the same samples: total count over the whole day, by query.
            # (per metric name: count_over_time drops the name, so one query over all names would collide).
            res["query_sample_count"] = {}
            for s in SYSTEMS:
                _, body, _ = pq.get(ports[s], "/api/v1/label/__name__/values", {})
                total = 0.0
                for name in json.loads(body)["data"]:
                    # In 4 h windows (left-open, so they tile), to stay under --query.max-samples.
                    for w in range(a.hours // 4 + 1):
                        r = instant(ports[s], f"sum(count_over_time({name}[4h]))", end_ms - w * 4 * 3600_000)
                        total += float(r[0]["value"][1]) if r else 0
                res["query_sample_count"][s] = total
            # Query latency over data in blocks.
            qend = end_ms - 6 * 3600 * 1000
            res["queries"] = []
            for name, expr in QUERIES[kind]:
                for hours in (1, 6):
                    params = {"query": expr, "start": f"{(qend - hours * 3600_000) / 1000:.3f}",
                              "end": f"{qend / 1000:.3f}", "step": "15"}
                    bodies, times = {}, {s: [] for s in SYSTEMS}
                    for s in SYSTEMS:  # warm-up
                        _, bodies[s], st = pq.get(ports[s], "/api/v1/query_range", params)
                        if st != 200:
                            raise RuntimeError(f"{s} {expr}: HTTP {st}: {bodies[s][:300]!r}")
                    t_case = time.time()
                    for _ in range(a.query_reps):
                        if time.time() - t_case > a.query_budget_s:
                            break
                        for s in SYSTEMS:
                            dt, _, _ = pq.get(ports[s], "/api/v1/query_range", params)
                            times[s].append(dt)
                    res["queries"].append({
                        "name": name, "hours": hours, "reps": len(times["diamond"]),
                        "median_s": {s: statistics.median(times[s]) for s in SYSTEMS},
                        "match": pq.answers_match(bodies["diamond"], bodies["prometheus"]),
                    })
        except Exception as e:  # noqa: BLE001 (keep the figures measured so far)
            print("checks/queries failed:", e, file=sys.stderr)
            res["error"] = str(e)
    finally:
        for p in procs.values():
            p.kill()
            p.wait()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    return res


def startup_phase(a, cfg):
    work = os.path.join(a.workdir, "startup")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    res = {"series": a.startup_series, "rounds": a.startup_rounds, "ready_s": {s: [] for s in SYSTEMS},
           "rss_ready": {s: [] for s in SYSTEMS}}
    try:
        for s in SYSTEMS:
            port = bvp.free_port()
            p = start(a, s, os.path.join(work, s), port, cfg)
            try:
                bvp.wait_ready(port, p)
                out = subprocess.check_output(
                    [os.path.join(a.bin_dir, "rw-load"), f"--url=http://127.0.0.1:{port}/api/v1/write",
                     f"--series={a.startup_series}", f"--rounds={a.startup_rounds}", "--concurrency=2",
                     "--exemplar-every=0"], text=True, timeout=a.load_timeout_s)
                print(s, "loaded:", out.strip().splitlines()[-1], file=sys.stderr)
            finally:
                p.kill()
                p.wait()
            res.setdefault("wal_bytes", {})[s] = dir_bytes(os.path.join(work, s, "wal"))
        for _ in range(a.startup_reps):
            for s in SYSTEMS:
                port = bvp.free_port()
                p = start(a, s, os.path.join(work, s), port, cfg)
                try:
                    res["ready_s"][s].append(bvp.wait_ready(port, p, timeout=a.load_timeout_s))
                    res["rss_ready"][s].append(bvp.rss_bytes(p.pid))
                finally:
                    p.kill()
                    p.wait()
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    return res


def ratio(d, p):
    return f"{d / p:.2f}×" if p else "n/a"


def mib(b):
    return f"{b / 2**20:.0f}"


def print_tables(results):
    for r in results.get("storage", []):
        k, D, P = r["kind"], "diamond", "prometheus"
        print(f"\n### {k}: {r['series']} series, {r['hours']} h at 15 s "
              f"({r['load']['samples_per_server']} samples per server)\n")
        print("| measure | Diamond | Prometheus 3.5 | ratio |")
        print("|---|---|---|---|")
        print(f"| bytes per sample in blocks | {r['bytes_per_sample'][D]:.3f} | {r['bytes_per_sample'][P]:.3f} | "
              f"{ratio(r['bytes_per_sample'][D], r['bytes_per_sample'][P])} |")
        print(f"| samples in blocks (meta.json) | {r['block_samples'][D]} | {r['block_samples'][P]} | |")
        print(f"| block bytes (allocated) | {r['block_bytes'][D]} ({r['block_alloc'][D]}) | "
              f"{r['block_bytes'][P]} ({r['block_alloc'][P]}) | {ratio(r['block_bytes'][D], r['block_bytes'][P])} |")
        for s in (D, P):
            lv = sorted(((b[2] - b[1]) // 3600000, b[3]) for b in r["blocks"][s])
            print(f"| {s} blocks (hours, level) | {lv} | | |")
        if "query_sample_count" in r:
            print(f"| samples counted by query (whole day) | {r['query_sample_count'][D]:.0f} | "
                  f"{r['query_sample_count'][P]:.0f} | |")
        samples, first = r["rss_samples"], r["load"]["first_ms"]
        for frac in (0.25, 0.5, 0.75, 1.0):
            want = first + frac * (r["load"]["end_ms"] - first)
            x = next((x for x in samples if x[1] >= want), samples[-1])
            print(f"| RSS MiB when data hour {(x[1] - first) / 3.6e6:.1f} was written (wall {x[0]:.0f} s) "
                  f"| {mib(x[2])} | {mib(x[3])} | {ratio(x[2], x[3])} |")
        print(f"| RSS MiB at the end (settled) | {mib(r['rss_end'][D])} | {mib(r['rss_end'][P])} | "
              f"{ratio(r['rss_end'][D], r['rss_end'][P])} |")
        if "rss_end_parts" in r:
            ep = r["rss_end_parts"]
            print(f"| of which anonymous / file-backed MiB at the end | {mib(ep[D][1])} / {mib(ep[D][2])} | "
                  f"{mib(ep[P][1])} / {mib(ep[P][2])} | {ratio(ep[D][1], ep[P][1])} (anonymous) |")
        print(f"| RSS MiB peak | {mib(r['rss_peak'][D])} | {mib(r['rss_peak'][P])} | "
              f"{ratio(r['rss_peak'][D], r['rss_peak'][P])} |")
        print(f"| RSS MiB before the load | {mib(r['rss_before'][D])} | {mib(r['rss_before'][P])} | |")
        for q in r.get("queries", []):
            m = q["median_s"]
            print(f"| query {q['name']} over {q['hours']} h in blocks, median of {q['reps']} (ms) | "
                  f"{m[D] * 1000:.1f} | {m[P] * 1000:.1f} | {ratio(m[D], m[P])} ({q['match']}) |")
    s = results.get("startup")
    if s:
        D, P = "diamond", "prometheus"
        md = {x: statistics.median(s["ready_s"][x]) for x in (D, P)}
        print(f"\n### start-up: {s['series']} series × {s['rounds']} samples in the WAL\n")
        print("| measure | Diamond | Prometheus 3.5 | ratio |")
        print("|---|---|---|---|")
        print(f"| time to /-/ready, median (s) | {md[D]:.2f} | {md[P]:.2f} | {ratio(md[D], md[P])} |")
        print(f"| runs (s) | {', '.join(f'{x:.2f}' for x in s['ready_s'][D])} | "
              f"{', '.join(f'{x:.2f}' for x in s['ready_s'][P])} | |")
        print(f"| WAL MiB | {mib(s['wal_bytes'][D])} | {mib(s['wal_bytes'][P])} | "
              f"{ratio(s['wal_bytes'][D], s['wal_bytes'][P])} |")
        rd = {x: statistics.median(s["rss_ready"][x]) for x in (D, P)}
        print(f"| RSS MiB when ready | {mib(rd[D])} | {mib(rd[P])} | {ratio(rd[D], rd[P])} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--phases", default="storage,startup")
    ap.add_argument("--kinds", default="node,histogram")
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--block-flags", default="", help="extra flags given to both servers, e.g. "
                    "'--storage.tsdb.min-block-duration=2h --storage.tsdb.max-block-duration=36h'")
    ap.add_argument("--settle-s", type=float, default=90.0, help="no block change for this long = settled")
    ap.add_argument("--settle-timeout-s", type=float, default=420.0)
    ap.add_argument("--load-timeout-s", type=int, default=1800)
    ap.add_argument("--query-reps", type=int, default=7)
    ap.add_argument("--query-budget-s", type=float, default=60.0)
    ap.add_argument("--startup-series", type=int, default=1_000_000)
    ap.add_argument("--startup-rounds", type=int, default=10)
    ap.add_argument("--startup-reps", type=int, default=3)
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "target/release"))
    ap.add_argument("--prometheus", default="")
    ap.add_argument("--workdir", default="/tmp/blocks")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench-out/blocks.json"))
    ap.add_argument("--table-from", default="", help="only print the tables of an earlier run's JSON")
    a = ap.parse_args()
    if a.table_from:
        with open(a.table_from) as f:
            print_tables(json.load(f))
        return 0
    a.bin_dir = os.path.abspath(a.bin_dir)
    a.prometheus = a.prometheus or prom_bin()
    os.makedirs(a.workdir, exist_ok=True)
    cfg = os.path.join(a.workdir, "cfg.yml")
    with open(cfg, "w") as f:
        f.write("scrape_configs: []\n")
    results = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "argv": sys.argv[1:]}
    phases = [p for p in a.phases.split(",") if p]
    if "storage" in phases:
        results["storage"] = [storage_phase(a, k, cfg) for k in a.kinds.split(",") if k]
    if "startup" in phases:
        results["startup"] = startup_phase(a, cfg)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)
    print_tables(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
