#!/usr/bin/env python3
"""Side-by-side PromQL benchmark: the same data remote-written to Diamond and to the reference Prometheus
3.5, then the same queries (same times) sent to both over HTTP, measured from outside.

Data (crates/bench/src/bin/promql_data.rs, identical request bodies to both servers): for each population
P in {1000, 10000} (label set="1k"/"10k"), P counters http_requests_total, P classic-histogram bucket
series http_request_duration_seconds_bucket (P/100 instances x 10 handlers x 10 le), P/40 app_build_info
series; 7 h at 15 s ending at END (a whole minute, chosen at load time). Sample counts are checked equal on
both servers with count_over_time/sum_over_time before measuring.

Queries (S = 1k or 10k): rate, sum by (job) of rate, histogram_quantile(0.9) by (le, handler), topk(5, rate),
rate * on(instance) group_left(version) app_build_info, max_over_time(rate[5m])[30m:1m] subquery; each as an
instant query at END and as range queries over [END-1h, END] and [END-6h, END] at step 15 s.

Per case: warm-up requests on both, then repetitions alternating Diamond/Prometheus (so load changes on this
shared machine hit both alike) until --reps or the time budget, at least --min-reps each.
  latency: wall time of the HTTP request until the whole body is read (no gzip) into a reused buffer and
           dropped (the answers are compared from the warm-up requests), median and p90;
  memory:  before each request the peak-RSS counter is reset (echo 5 > /proc/PID/clear_refs) and VmRSS
           read; after it, VmHWM - VmRSS(before) is the RSS growth the query caused; the median over the
           repetitions is reported (see the method notes under "PromQL (issue 3)" in BENCHMARKS.md).
Each answer pair is compared (byte-identical bodies, or equal series and values within 1e-9 relative).

Usage: scripts/bench-promql-vs-prometheus.py [--target-dir target] [--sets 1000,10000] [--reps 15]
       [--only NAME,...] [--shapes instant,range 1h,range 6h] [--end-minute M]
--end-minute pins where the data ends in Prometheus's head chunks (its instant queries decode from a chunk's
start: minutes 5-9 of a half hour are its cheapest ends, 0-4 its dearest); by default END is the current
minute, so successive runs land on different phases.
Build first: cargo build --release -p diamond-server -p diamond-bench
Prints a Markdown table (ratios Diamond/Prometheus) and writes bench-out/promql.json.
"""
import argparse
import hashlib
import http.client
import importlib.util
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("bvp", os.path.join(ROOT, "scripts/bench-vs-prometheus.py"))
bvp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bvp)  # free_port, rss_bytes, cpu_seconds, wait_ready

PROM_DEFAULT = os.path.expanduser("~/.cache/reference-prometheus/root/usr/bin/prometheus")


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def reset_hwm(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def start_server(system, data, port, cfg, diamond_bin, prom_bin):
    if system == "diamond":
        cmd = [diamond_bin, "serve", f"--web.listen-address=127.0.0.1:{port}",
               f"--storage.tsdb.path={data}", f"--config.file={cfg}", "--log.level=warn"]
    else:
        cmd = [prom_bin, f"--config.file={cfg}", f"--storage.tsdb.path={data}",
               f"--web.listen-address=127.0.0.1:{port}", "--web.enable-remote-write-receiver", "--log.level=warn"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


_DRAIN = bytearray(1 << 20)


def get(port, path, params, keep=True):
    """One GET; returns (seconds until the whole body is read, body bytes, HTTP status). With keep=False
    the body is read into one reused buffer and dropped (the timed repetitions): the client then costs
    both servers the same, whether the answer comes as one piece or in chunks, instead of Python's
    http.client joining chunks into a copy of a large answer while the clock runs."""
    q = urllib.parse.urlencode(params)
    t0 = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("GET", f"{path}?{q}")
    r = c.getresponse()
    if keep or r.status != 200:
        body = r.read()
    else:
        n, view = 0, memoryview(_DRAIN)
        while True:
            k = r.readinto(view)
            if not k:
                break
            n += k
        body = b""
    dt = time.perf_counter() - t0
    c.close()
    return dt, body, r.status


def query(port, expr, t):
    dt, body, st = get(port, "/api/v1/query", {"query": expr, "time": f"{t / 1000:.3f}"})
    if st != 200:
        raise RuntimeError(f"{expr}: HTTP {st}: {body[:300]!r}")
    return json.loads(body)["data"]["result"]


def wait_prometheus_compacted(port, timeout=900):
    """Waits until Prometheus's head spans at most 3 h (nothing left to compact) and stays so for 10 s."""
    t0, stable = time.time(), 0
    while time.time() - t0 < timeout:
        _, body, _ = get(port, "/api/v1/status/tsdb", {})
        hs = json.loads(body)["data"]["headStats"]
        if hs["maxTime"] - hs["minTime"] <= 3 * 3600 * 1000:
            stable += 1
            if stable >= 10:
                return hs
        else:
            stable = 0
        time.sleep(1)
    raise RuntimeError("Prometheus did not finish compacting")


def answers_match(a, b):
    if a == b:
        return "identical"
    try:
        ja, jb = json.loads(a)["data"], json.loads(b)["data"]
    except Exception as e:  # noqa: BLE001
        return f"unparsable: {e}"
    ra, rb = ja["result"], jb["result"]
    if ja["resultType"] != jb["resultType"]:
        return "DIFFERENT types"
    if ja["resultType"] in ("vector", "matrix"):
        key = lambda s: json.dumps(s["metric"], sort_keys=True)  # noqa: E731
        ma, mb = {key(s): s for s in ra}, {key(s): s for s in rb}
        if ma.keys() != mb.keys():
            return f"DIFFERENT series ({len(ma)} vs {len(mb)})"
        worst = 0.0
        for k, s in ma.items():
            pa = s.get("values") or [s["value"]]
            pb = mb[k].get("values") or [mb[k]["value"]]
            if [p[0] for p in pa] != [p[0] for p in pb]:
                return "DIFFERENT timestamps"
            for x, y in zip(pa, pb):
                fx, fy = float(x[1]), float(y[1])
                if math.isnan(fx) and math.isnan(fy):
                    continue
                d = abs(fx - fy) / max(abs(fx), abs(fy), 1e-300)
                worst = max(worst, d)
        return "equal" if worst == 0 else ("equal within 1e-9" if worst < 1e-9 else f"DIFFERENT values (rel {worst:.2g})")
    return "DIFFERENT"


def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


QUERIES = [
    ("rate", 'rate(http_requests_total{{set="{s}"}}[5m])'),
    ("sum by (job) (rate)", 'sum by (job) (rate(http_requests_total{{set="{s}"}}[5m]))'),
    ("histogram_quantile by (le, handler)",
     'histogram_quantile(0.9, sum by (le, handler) (rate(http_request_duration_seconds_bucket{{set="{s}"}}[5m])))'),
    ("topk(5, rate)", 'topk(5, rate(http_requests_total{{set="{s}"}}[5m]))'),
    ("group_left join",
     'rate(http_requests_total{{set="{s}"}}[5m]) * on (instance) group_left (version) app_build_info{{set="{s}"}}'),
    ("subquery max_over_time(rate[5m])[30m:1m]", 'max_over_time(rate(http_requests_total{{set="{s}"}}[5m])[30m:1m])'),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target-dir", default=os.path.join(ROOT, "target"))
    ap.add_argument("--diamond", default="", help="diamond binary (default: TARGET_DIR/release/diamond)")
    ap.add_argument("--prometheus", default=PROM_DEFAULT)
    ap.add_argument("--sets", default="1000,10000")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--min-reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--budget-s", type=float, default=60.0, help="time budget per case (both systems)")
    ap.add_argument("--only", default="", help="comma-separated substrings of query names to run")
    ap.add_argument("--shapes", default="instant,range 1h,range 6h", help="comma-separated shapes to run")
    ap.add_argument("--end-minute", type=int, default=-1,
                    help="end the data at this minute of the half hour (0-29) instead of the current minute: "
                         "it sets where the data ends in Prometheus's 120-sample (30 min) head chunks, "
                         "which decides how much an instant query of it decodes (minute m = 4m samples in)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench-out/promql.json"))
    ap.add_argument("--table-from", default="", help="only print the table of an earlier run's JSON")
    a = ap.parse_args()
    if a.table_from:
        with open(a.table_from) as f:
            print_table(json.load(f))
        return 0

    tmp = tempfile.mkdtemp(prefix="bench-promql-")
    cfg = os.path.join(tmp, "cfg.yml")
    with open(cfg, "w") as f:
        f.write("scrape_configs: []\n")
    procs = {}
    try:
        ports = {}
        for system in ("diamond", "prometheus"):
            ports[system] = bvp.free_port()
            procs[system] = start_server(system, os.path.join(tmp, system), ports[system], cfg,
                                         a.diamond or os.path.join(a.target_dir, "release/diamond"), a.prometheus)
            bvp.wait_ready(ports[system], procs[system])
        end_ms = int(time.time() // 60) * 60 * 1000
        if a.end_minute >= 0:
            # The latest past time at that minute of a half hour (data in the future would be refused).
            half = 1800 * 1000
            end_ms = end_ms // half * half + a.end_minute * 60_000
            if end_ms > time.time() * 1000:
                end_ms -= half
        # One loader thread: both servers then create the series in the same order, which is what decides
        # between tied series (topk, bottomk) as Prometheus selects them unsorted from its head.
        gen = [os.path.join(a.target_dir, "release/promql-data"), f"--end-ms={end_ms}", f"--sets={a.sets}",
               "--concurrency=1"]
        gen += [f"--url=http://127.0.0.1:{ports[s]}/api/v1/write" for s in ("diamond", "prometheus")]
        print("loading:", " ".join(gen), file=sys.stderr)
        load = json.loads(subprocess.check_output(gen, text=True).strip().splitlines()[-1])
        print("loaded:", load, file=sys.stderr)
        head = wait_prometheus_compacted(ports["prometheus"])
        print("prometheus head after compaction:", head, file=sys.stderr)

        # Both servers must hold the same samples.
        check = {}
        for system in ("diamond", "prometheus"):
            res = {}
            for fn in ("count_over_time", "sum_over_time"):
                for name in ("http_requests_total", "http_request_duration_seconds_bucket", "app_build_info"):
                    r = query(ports[system], f"sum by (set) ({fn}({name}[8h]))", end_ms)
                    for s in r:
                        res[f'{fn} {name} {s["metric"]["set"]}'] = s["value"][1]
            check[system] = res
        if check["diamond"] != check["prometheus"]:
            raise RuntimeError(f"servers hold different data: {check}")
        print("data check: identical", json.dumps(check["diamond"], sort_keys=True), file=sys.stderr)

        base_rss = {s: bvp.rss_bytes(procs[s].pid) for s in procs}
        sets = [int(x) for x in a.sets.split(",")]
        cases = []
        for p in sets:
            sname = f"{p // 1000}k" if p % 1000 == 0 else str(p)
            for qname, qt in QUERIES:
                if a.only and not any(o in qname for o in a.only.split(",")):
                    continue
                expr = qt.format(s=sname)
                for shape in ("instant", "range 1h", "range 6h"):
                    if shape not in a.shapes.split(","):
                        continue
                    if shape == "instant":
                        path, params = "/api/v1/query", {"query": expr, "time": f"{end_ms / 1000:.3f}"}
                    else:
                        hours = 1 if shape == "range 1h" else 6
                        path, params = "/api/v1/query_range", {
                            "query": expr, "start": f"{(end_ms - hours * 3600_000) / 1000:.3f}",
                            "end": f"{end_ms / 1000:.3f}", "step": "15"}
                    cases.append((sname, qname, expr, shape, path, params))

        results = []
        for sname, qname, expr, shape, path, params in cases:
            load0 = os.getloadavg()[0]
            bodies = {}
            first_growth = {}
            for system in ("diamond", "prometheus"):
                pid = procs[system].pid
                for w in range(a.warmup):
                    reset_hwm(pid)
                    rss0 = status_kb(pid, "VmRSS")
                    _, body, st = get(ports[system], path, params)
                    if w == 0:
                        first_growth[system] = max(0, status_kb(pid, "VmHWM") - rss0)
                    if st != 200:
                        raise RuntimeError(f"{system} {expr}: HTTP {st}: {body[:300]!r}")
                bodies[system] = body
            match = answers_match(bodies["diamond"], bodies["prometheus"]) if len(bodies["diamond"]) < 64 << 20 \
                else ("identical" if bodies["diamond"] == bodies["prometheus"] else
                      f"sizes {len(bodies['diamond'])} vs {len(bodies['prometheus'])} (not compared: large)")
            sizes = {s: len(b) for s, b in bodies.items()}
            digest = {s: hashlib.sha256(b).hexdigest()[:12] for s, b in bodies.items()}
            bodies = None
            lat = {"diamond": [], "prometheus": []}
            mem = {"diamond": [], "prometheus": []}
            peak = {"diamond": [], "prometheus": []}
            t_case = time.time()
            for i in range(a.reps):
                for system in (("diamond", "prometheus") if i % 2 == 0 else ("prometheus", "diamond")):
                    pid = procs[system].pid
                    reset_hwm(pid)
                    rss0 = status_kb(pid, "VmRSS")
                    dt, body, st = get(ports[system], path, params, keep=False)
                    hwm = status_kb(pid, "VmHWM")
                    if st != 200:
                        raise RuntimeError(f"{system} {expr}: HTTP {st}")
                    lat[system].append(dt)
                    mem[system].append(max(0, hwm - rss0))
                    peak[system].append(hwm)
                    body = None
                if i + 1 >= a.min_reps and time.time() - t_case > a.budget_s:
                    break
            row = {"set": sname, "query": qname, "expr": expr, "shape": shape, "reps": len(lat["diamond"]),
                   "load_before": load0, "load_after": os.getloadavg()[0], "answers": match,
                   "body_bytes": sizes, "body_sha256_12": digest}
            for s in ("diamond", "prometheus"):
                row[s] = {"p50_s": statistics.median(lat[s]), "p90_s": pct(lat[s], 0.9),
                          "mem_growth_median": statistics.median(mem[s]), "mem_growth_max": max(mem[s]),
                          "mem_growth_first": first_growth[s], "peak_rss_median": statistics.median(peak[s]),
                          "lat_all": lat[s], "mem_all": mem[s]}
            results.append(row)
            d, pr = row["diamond"], row["prometheus"]
            print(f"{sname:>3} {qname:<42} {shape:<8} D {d['p50_s'] * 1e3:9.1f} ms  P {pr['p50_s'] * 1e3:9.1f} ms  "
                  f"ratio {d['p50_s'] / pr['p50_s']:.2f}  mem D {d['mem_growth_median'] / 2**20:7.1f} MiB "
                  f"P {pr['mem_growth_median'] / 2**20:7.1f} MiB  load {load0:.2f}  {match}", file=sys.stderr,
                  flush=True)
        final_rss = {s: bvp.rss_bytes(procs[s].pid) for s in procs}
        out = {"end_ms": end_ms, "load": load, "prometheus_head": head, "data_check": check["diamond"],
               "rss_after_load": base_rss, "rss_at_end": final_rss, "results": results,
               "command": " ".join(sys.argv), "uname": os.uname().release}
        os.makedirs(os.path.dirname(a.out), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(out, f, indent=1)
        print_table(out)
    finally:
        for p in procs.values():
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def mib(x):
    return f"{x / 2**20:.1f}"


def ratio(a, b):
    return f"{a / b:.2f}×" if b else "n/a"


def print_table(out):
    print("| set | query | shape | Diamond p50 / p90 (ms) | Prometheus p50 / p90 (ms) | latency ratio p50 "
          "| RSS growth D / P (MiB) | first-run growth D / P (MiB) | peak RSS D / P (MiB) | peak RSS ratio "
          "| reps | load | answers |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in out["results"]:
        d, p = r["diamond"], r["prometheus"]
        fg = (mib(d.get("mem_growth_first", 0)), mib(p.get("mem_growth_first", 0)))
        pk = (d.get("peak_rss_median", 0), p.get("peak_rss_median", 0))
        print(f"| {r['set']} | {r['query']} | {r['shape']} | {d['p50_s'] * 1e3:.1f} / {d['p90_s'] * 1e3:.1f} "
              f"| {p['p50_s'] * 1e3:.1f} / {p['p90_s'] * 1e3:.1f} | {ratio(d['p50_s'], p['p50_s'])} "
              f"| {mib(d['mem_growth_median'])} / {mib(p['mem_growth_median'])} | {fg[0]} / {fg[1]} "
              f"| {mib(pk[0])} / {mib(pk[1])} | {ratio(pk[0], pk[1])} | {r['reps']} "
              f"| {r['load_before']:.1f} | {r['answers']} |")


if __name__ == "__main__":
    sys.exit(main())
