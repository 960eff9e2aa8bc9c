#!/usr/bin/env python3
"""Generates reference.test: PromQL cases whose expected results come from the reference Prometheus 3.5.

Each case block below is a `load` (promqltest expanding notation) and instant queries. For every block we
write a `promtool test rules` file with empty expectations; promtool then reports what Prometheus got (or
the error) for each query, which we turn into `eval instant` / `eval_fail` cases in the promqltest format.
Annotations (which promtool does not report) come from a real Prometheus server into which the same data is
backfilled (without staleness markers, which backfill cannot write), queried over its HTTP API. The runner
in ../promqltest.rs runs the result like Prometheus's own corpus. promtool only holds samples up to the last evaluation-interval step before
the evaluation time, so the interval is the block's and times are multiples of it, and queries must not read
the future (no `@` later than the first time, no negative offsets).

Usage: python3 gen.py [path/to/promtool]   (default: the cached reference binary)
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

PROMTOOL = sys.argv[1] if len(sys.argv) > 1 else "/root/.cache/reference-prometheus/root/usr/bin/promtool"
PROMETHEUS = os.path.join(os.path.dirname(PROMTOOL), "prometheus")
HERE = os.path.dirname(os.path.abspath(__file__))

BLOCKS = [
    {
        "interval": "1m",
        "series": {
            'http_requests_total{job="api", instance="a", code="200"}': "0+10x30 5+10x30",
            'http_requests_total{job="api", instance="b", code="200"}': "0+3x60",
            'http_requests_total{job="api", instance="a", code="500"}': "0+1x10 _x10 10+1x40",
            'http_requests_total{job="web", instance="c", code="200"}': "100 90 80 200 300 stale 400+7x50",
            'gauge{job="api", instance="a"}': "1 -2 3.5 NaN 7 Inf -Inf 4 4 4 2+0.5x50",
            'gauge{job="web", instance="c"}': "10-1x60",
            'temp{room="kitchen", unit="c"}': "20 21 19 22 23 18 25 24 20+0.1x50",
            'temp{room="hall", unit="c"}': "15+0.2x60",
            'info_metric{instance="a", version="1.2.3", job="api"}': "1x60",
            'info_metric{instance="c", version="2.0.0", job="web"}': "1x60",
            'lat_bucket{job="api", le="0.1"}': "0+1x60",
            'lat_bucket{job="api", le="0.5"}': "0+5x60",
            'lat_bucket{job="api", le="1"}': "0+7x60",
            'lat_bucket{job="api", le="+Inf"}': "0+8x60",
            'lat_bucket{job="web", le="0.1"}': "0+2x60",
            'lat_bucket{job="web", le="1"}': "0+1x60",
            'lat_bucket{job="web", le="+Inf"}': "0+4x60",
        },
        "times": ["5m", "17m", "33m", "59m"],
        "queries": [
            # Found by the random differential sweep (2026-12-07): negative matchers in absent(), a
            # count_values label named in without(), Go's amd64 exp() overflow, an offset followed by `*`.
            'absent(nonexistent{instance!="x", instance="a"})',
            'absent_over_time(nonexistent{job!~"w.*", job="api"}[5m])',
            'absent(nonexistent{job=~"a.*", job="api"})',
            'count_values without (job) ("job", gauge)',
            'count_values without (instance) ("job", info_metric)',
            'count_values("v", gauge * 1e-8)',
            "exp(gauge * 0 + 709.44)",
            "exp(gauge * 0 + 709.43)",
            "sinh(gauge * 0 - 709.7)",
            "cosh(gauge * 0 - 709.7)",
            "quantile(1.5, gauge) - gauge offset 1m * 1",
            "rate(http_requests_total[5m])",
            "irate(http_requests_total[5m])",
            "increase(http_requests_total[10m])",
            "delta(gauge[10m])",
            "idelta(gauge[5m])",
            "deriv(gauge[10m])",
            "predict_linear(temp[10m], 600)",
            "resets(http_requests_total[30m])",
            "changes(gauge[15m])",
            "sum by (job) (rate(http_requests_total[5m]))",
            "sum without (instance) (rate(http_requests_total[5m]))",
            "avg by (job) (gauge)",
            "max by (job) (gauge)",
            "min(gauge)",
            "count by (code) (http_requests_total)",
            "stddev by (job) (http_requests_total)",
            "stdvar(temp)",
            "group by (job) (http_requests_total)",
            "quantile(0.3, http_requests_total)",
            "quantile by (job) (0.9, http_requests_total)",
            "topk(2, http_requests_total)",
            "bottomk by (job) (1, http_requests_total)",
            'count_values("value", gauge)',
            'count_values by (job) ("v", http_requests_total > 100)',
            "http_requests_total / on(instance, job) group_left(version) info_metric",
            "info_metric * on(instance) group_right(version) http_requests_total",
            "http_requests_total and on(job) gauge",
            "http_requests_total unless ignoring(code) gauge",
            "gauge or temp",
            "http_requests_total > bool 100",
            "100 < http_requests_total",
            "gauge == gauge",
            "gauge != bool 4",
            "-gauge",
            "gauge ^ 2 % 3",
            "2 ^ 3 ^ 2",
            "-2 ^ 2",
            "temp atan2 on(room) temp",
            "gauge % -3",
            "abs(gauge)",
            "sgn(gauge)",
            "round(temp, 0.5)",
            "round(gauge)",
            "ceil(temp) - floor(temp)",
            "clamp(gauge, -1, 3)",
            "clamp_min(gauge, 0)",
            "clamp_max(gauge, 3)",
            "exp(gauge)",
            "ln(temp)",
            "log2(temp) + log10(temp)",
            "sqrt(gauge)",
            "avg_over_time(gauge[10m])",
            "sum_over_time(temp[5m])",
            "count_over_time(http_requests_total[10m])",
            "min_over_time(gauge[10m])",
            "max_over_time(gauge[10m])",
            "last_over_time(http_requests_total[10m])",
            "present_over_time(http_requests_total[2m])",
            "stddev_over_time(temp[10m])",
            "stdvar_over_time(gauge[10m])",
            "quantile_over_time(0.75, temp[10m])",
            "absent_over_time(nonexistent[5m])",
            'absent(nonexistent{job="x", job="y", a="b"})',
            'absent(http_requests_total{job="api"})',
            "scalar(sum(gauge))",
            "vector(scalar(temp))",
            "time() - timestamp(http_requests_total)",
            "timestamp(http_requests_total offset 2m)",
            "hour(gauge * 3600)",
            "day_of_week(vector(1700000000))",
            "day_of_year(vector(1700000000)) + days_in_month(vector(1709251200))",
            "month(vector(1700000000)) * 100 + day_of_month(vector(1700000000))",
            "year(vector(1700000000)) + minute(vector(1700000123))",
            'label_replace(http_requests_total, "foo", "$1-$2", "instance", "(.)(.*)")',
            'label_replace(http_requests_total, "job", "", "job", "api")',
            'label_join(http_requests_total, "combined", "/", "job", "instance", "code")',
            "histogram_quantile(0.5, lat_bucket)",
            "histogram_quantile(0.99, rate(lat_bucket[5m]))",
            "histogram_quantile(0.5, sum by (le) (rate(lat_bucket[5m])))",
            "histogram_fraction(0, 0.5, lat_bucket)",
            "histogram_fraction(0.2, 2, rate(lat_bucket[5m]))",
            "max_over_time(rate(http_requests_total[2m])[10m:1m])",
            "avg_over_time(gauge[10m:3m])",
            "rate(http_requests_total[5m] offset 3m)",
            "http_requests_total @ 240",
            "rate(http_requests_total[5m] @ 270)",
            "sum_over_time(http_requests_total[10m:2m] offset 5m)",
            "min_over_time(sum by (job) (http_requests_total)[15m:5m] @ 300)",
            "sort_desc(http_requests_total)",
            "http_requests_total + on(job) group_left sum by (job) (gauge)",
            "sum(http_requests_total) by (job) / ignoring(job) group_left sum(http_requests_total)",
            "count(count by (job) (http_requests_total))",
            "topk(1, sum by (job) (http_requests_total))",
            "(http_requests_total > 50) * 2",
            "gauge > 3 < 10",
            "temp{room=~\"k.*\"} or temp{room!~\"k.*\"}",
            "{__name__=~\"temp|gauge\", job!=\"web\"}",
            "http_requests_total + http_requests_total",
            "http_requests_total - on(code) http_requests_total",
            "sum(rate(http_requests_total{code=\"500\"}[5m])) / sum(rate(http_requests_total[5m]))",
            "double_exponential_smoothing(temp[10m], 0.3, 0.6)",
            "limitk(1, temp)",
        ],
    },
    {
        # Name dropping in the server's default mode (no delayed name removal), and same-labelset errors.
        "interval": "5m",
        "series": {
            'metric_total{env="1"}': "0 60 120",
            'another_metric_total{env="1"}': "60 120 180",
            'other{env="1", x="a"}': "1 2 3",
        },
        "times": ["10m"],
        "queries": [
            'label_replace(rate({env="1"}[10m]), "my_name", "rate_$1", "__name__", "(.+)")',
            'label_replace(rate(metric_total[10m]), "__name__", "rate_$1", "__name__", "(.+)")',
            'sum by (__name__) (rate({env="1"}[10m]))',
            'sum(rate({env="1"}[10m])) by (env)',
            'rate({env="1"}[10m])',
            '-{env="1"}',
            '{env="1"} * 2',
            'last_over_time({env="1"}[10m])',
            'sum by (__name__, env) (metric_total)',
            'topk(10, sum by (__name__, env) (rate(metric_total[10m])))',
            'metric_total > 50',
            'metric_total > bool 50',
            'abs({__name__=~"metric_total|another_metric_total"})',
            'timestamp({env="1"})',
        ],
    },
    {
        # Edge values: NaN, Inf, resets, staleness, sparse samples, odd histogram buckets. Values avoid ties
        # between series: topk/bottomk break ties by storage order, which differs between implementations.
        "interval": "30s",
        "series": {
            'edge{k="nan"}': "1 NaN 3 NaN 5 6 NaN 8 9 10 11 12 13 14 15 16 17 18 19 20",
            'edge{k="inf"}': "1.1 Inf 3.1 -Inf 5.1 Inf Inf 8.1 9.1 10.1 11.1 12.1 13.1 14.1 15.1 16.1 17.1 18.1 19.1 20.1",
            'edge{k="reset"}': "10 20 5 15 3 1 50 60 0 10 20 30 5 15 25 35 0 0 1 2",
            'edge{k="stale"}': "1.5 2.5 3.5 stale 5.5 6.5 stale _ _ _ _ _ _ _ _ _ _ _ _ 9.5",
            'edge{k="sparse"}': "1.25 _ _ _ _ _ _ _ 9.25 _ _ _ _ _ _ _ _ _ _ 20.25",
            'edge{k="neg"}': "-5 -4 -3 -2 -1 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14",
            'edge{k="zero"}': "0x19",
            'h_bucket{h="nonmono", le="1"}': "10x19",
            'h_bucket{h="nonmono", le="2"}': "8x19",
            'h_bucket{h="nonmono", le="+Inf"}': "12x19",
            'h_bucket{h="noinf", le="1"}': "1x19",
            'h_bucket{h="noinf", le="2"}': "2x19",
            'h_bucket{h="dup", le="1"}': "1x19",
            'h_bucket{h="dup", le="1.0"}': "2x19",
            'h_bucket{h="dup", le="+Inf"}': "4x19",
            'h_bucket{h="zero", le="0.5"}': "0x19",
            'h_bucket{h="zero", le="+Inf"}': "0x19",
            'h_bucket{h="neg", le="-1"}': "1x19",
            'h_bucket{h="neg", le="0"}': "3x19",
            'h_bucket{h="neg", le="+Inf"}': "4x19",
            'h_bucket{h="bad", le="x"}': "1x19",
            'h_bucket{h="bad", le="+Inf"}': "1x19",
        },
        "times": ["1m", "2m30s", "4m", "9m30s"],
        "queries": [
            "edge",
            "sum(edge)",
            "avg(edge)",
            "min(edge)",
            "max(edge)",
            "stddev(edge)",
            "quantile(0.5, edge)",
            "quantile(NaN, edge)",
            "topk(3, edge)",
            "bottomk(3, edge)",
            'count_values("v", edge)',
            'count_values("k", edge)',
            "edge > 3",
            "edge != edge",
            "edge % 3",
            "edge ^ 0.5",
            "edge atan2 2",
            "-edge / 0",
            "1 / 0 - 1 / 0",
            "-8 ^ (1/3)",
            "2 > bool 1",
            "scalar(edge)",
            "scalar(edge{k=\"neg\"})",
            "rate(edge[2m])",
            "increase(edge[2m])",
            "irate(edge[2m])",
            "idelta(edge[2m])",
            "delta(edge[2m])",
            "deriv(edge[2m])",
            "predict_linear(edge[2m], 60)",
            "resets(edge[5m])",
            "changes(edge[5m])",
            "avg_over_time(edge[2m])",
            "sum_over_time(edge[2m])",
            "min_over_time(edge[2m])",
            "max_over_time(edge[2m])",
            "stddev_over_time(edge[2m])",
            "quantile_over_time(0.3, edge[2m])",
            "last_over_time(edge[1m])",
            "present_over_time(edge[1m])",
            "count_over_time(edge[5m])",
            'absent_over_time(edge{k="stale"}[1m])',
            'absent(edge{k="stale"})',
            "timestamp(edge)",
            "rate(edge[2m:30s])",
            "max_over_time(edge[3m:45s] offset 30s)",
            "histogram_quantile(0.5, h_bucket)",
            "histogram_quantile(0, h_bucket)",
            "histogram_quantile(1, h_bucket)",
            "histogram_quantile(-1, h_bucket)",
            "histogram_quantile(0.9, h_bucket)",
            "histogram_fraction(-Inf, 1.5, h_bucket)",
            "histogram_fraction(1, +Inf, h_bucket)",
            "round(edge / 3, 0.25)",
            "clamp(edge, 2, 8)",
            "clamp(edge, 8, 2)",
            "sgn(edge)",
            'label_replace(edge, "k2", "$1$2", "k", "(.)(x)?.*")',
            'label_replace(edge, "k", "${1}_x", "k", "(?P<first>.).*")',
            'label_join(edge, "k", "-", "k", "k")',
            "sort(edge)",
            "sum by (k) (edge) / on(k) group_left edge",
            "edge and on() vector(1)",
            "edge unless edge{k=~\"n.*\"}",
            "vector(time()) - on() group_left edge",
        ],
    },
    {
        # Range queries (answered by the server; no staleness markers in this block since backfill has none).
        "interval": "15s",
        "series": {
            'req_total{job="a", i="1"}': "0+5x40 3+5x40 _x20 7+2x30",
            'req_total{job="a", i="2"}': "0+1x130",
            'req_total{job="b", i="3"}': "100 _ _ 130 _ _ 160 190 220 0 30 60 _x30 90+30x60",
            'g{job="a"}': "5 4 3 2 1 0 -1 -2 1+1x50 NaN 3x20 Inf 7x40",
            'g{job="b"}': "0.5+0.25x130",
            'lb_bucket{le="0.1"}': "0+1x130",
            'lb_bucket{le="1"}': "0+3x130",
            'lb_bucket{le="+Inf"}': "0+4x130",
        },
        "times": [],
        "ranges": [
            ("0", "30m", "1m", [
                "req_total",
                "rate(req_total[1m])",
                "sum by (job) (rate(req_total[2m]))",
                "irate(req_total[1m])",
                "increase(req_total[5m])",
                "delta(g[3m])",
                "deriv(g[5m])",
                "avg_over_time(g[5m])",
                "max_over_time(g[90s])",
                "changes(req_total[5m])",
                "resets(req_total[10m])",
                "g > 2",
                "g * on(job) group_left sum by (job) (req_total)",
                "topk(1, req_total)",
                "count(req_total > 50)",
                "absent(nonexistent)",
                "absent_over_time(req_total{i=\"3\"}[1m])",
                "histogram_quantile(0.75, rate(lb_bucket[5m]))",
                "time() - timestamp(req_total)",
                "max_over_time(rate(req_total[1m])[5m:30s])",
                "rate(req_total[1m] offset 5m)",
                "req_total @ 300",
                "rate(req_total[2m] @ end())",
                "scalar(sum(g))",
                "vector(1) + on() group_left g",
                "predict_linear(g[10m], 300)",
                "quantile_over_time(0.9, g[4m])",
                "last_over_time(req_total[2m])",
                "label_replace(g, \"x\", \"$1\", \"job\", \"(.)\")",
                "sort_desc(g)",
            ]),
            ("90s", "17m", "45s", [
                "rate(req_total[1m])",
                "avg_over_time(g[2m:20s])",
                "sum_over_time(req_total[1m] offset 30s)",
                "min_over_time(rate(req_total[1m])[3m:40s] offset 1m)",
                "max_over_time(g[2m:30s] @ 600)",
                "rate(req_total[1m] @ start())",
                "quantile(0.25, req_total)",
                "stddev by (job) (req_total)",
                'count_values("v", g)',
                'label_join(req_total, "ji", "-", "job", "i")',
                "bottomk(2, req_total)",
                "clamp(g, 1, 4)",
                "round(g * 1.37, 0.5)",
                "histogram_fraction(0.05, 0.5, rate(lb_bucket[2m]))",
                "day_of_week(timestamp(g)) + hour(vector(time()))",
                "absent_over_time(nonexistent[2m:15s])",
                "g == bool on(job) (g offset 1m)",
                "req_total unless on(job) g > 3",
                "sum(rate(req_total[3m])) by (job) / on(job) group_left count by (job) (req_total)",
                "idelta(g[1m])",
                "stdvar_over_time(g[3m])",
                "present_over_time(req_total{i=\"3\"}[30s])",
            ]),
        ],
        "queries": [],
    },
    {
        # Parse and type errors: Prometheus's messages, with positions.
        "interval": "1m",
        "series": {'x{a="1"}': "1x5"},
        "times": ["1m"],
        "queries": [
            "sum(", 'x{a="1"', "x[5m", "rate(x)", "x +", "1 > 2", "sum(x) by", "foo(x)", "x[5m:1m:1m]",
            '"a" + 1', 'x{a=~"("}', "histogram_quantile(x)", "x @ 1 @ 2", "x offset 1m offset 2m", "topk(x)",
            "{}", "count_values(1, x)", "x and 1", 'label_replace(x, "a", "b", "c")', '-"a"',
            "x == on(a) group_left(a) x", "abs(x, x)", "x[1m] + 1", ")", "x[0s]", "x[5m:0s]", "x{a=}",
            "sum without(a) by(b) (x)", "1 +* 2", "x @ NaN", "x[-5m]", "rate(x[5m] @ start())",
        ],
    },
]


def promtool_results(block, time, queries):
    """Runs promtool on one block at one time; returns {query: ("ok", [(labels, value)]) | ("err", msg)}."""
    cfg = {
        "rule_files": [],
        "evaluation_interval": block["interval"],
        "tests": [
            {
                "interval": block["interval"],
                "input_series": [{"series": s, "values": v} for s, v in block["series"].items()],
                "promql_expr_test": [{"expr": q, "eval_time": time, "exp_samples": []} for q in queries],
            }
        ],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        json.dump(cfg, f)
        path = f.name
    proc = subprocess.run([PROMTOOL, "test", "rules", path], capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    os.unlink(path)
    results = {q: ("ok", []) for q in queries}
    cur = None
    for line in out.splitlines():
        m = re.match(r'\s*expr: "(.*)", time: [^,]+,(?: err: (.*))?$', line)
        if m:
            cur = json.loads('"' + m.group(1) + '"')
            if m.group(2) is not None:
                results[cur] = ("err", m.group(2))
                cur = None
            continue
        m = re.match(r"\s*got: (.*)$", line)
        if m and cur is not None:
            results[cur] = ("ok", split_got(m.group(1)))
            cur = None
    return results


def split_got(s):
    """Splits promtool's `{a="1"} 1E+00, {b="2"} 2E+00` into (labels, value) pairs."""
    out = []
    i = 0
    while i < len(s):
        j = i
        in_q = False
        while j < len(s):
            c = s[j]
            if c == "\\" and in_q:
                j += 2
                continue
            if c == '"':
                in_q = not in_q
            if c == "}" and not in_q:
                break
            j += 1
        labels = s[i : j + 1]
        k = s.find(",", j)
        val = s[j + 1 : k if k >= 0 else len(s)].strip()
        out.append((labels, val))
        i = (k + 1 if k >= 0 else len(s))
        while i < len(s) and s[i] == " ":
            i += 1
    return out


def rx_escape(s):
    """Escapes regex metacharacters only (Rust's regex rejects escaped spaces, which re.escape emits)."""
    return "".join("\\" + c if c in "\\.+*?()|[]{}^$" else c for c in s)


def seconds(d):
    """A Prometheus duration (`1m30s`) in seconds."""
    total = 0.0
    for n, unit in re.findall(r"(\d+)(ms|s|m|h|d)", d):
        total += int(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    return total


def expand(values):
    """Expanding notation to a list of floats/None (`stale` becomes None: backfill cannot write markers)."""
    out = []
    for tok in values.split():
        if tok == "_" or tok == "stale":
            out.append(None)
        elif tok.startswith("_x"):
            out.extend([None] * int(tok[2:]))
        elif "x" in tok and not tok.lower().startswith(("inf", "-inf", "+inf", "nan")):
            left, times = tok.rsplit("x", 1)
            ops = [k for k in range(1, len(left)) if left[k] in "+-" and left[k - 1] not in "eE"]
            if ops:
                k = ops[-1]
                a, d = float(left[:k]), float(left[k + 1 :]) * (1 if left[k] == "+" else -1)
            else:
                a, d = float(left), 0.0
            for k in range(int(times) + 1):
                out.append(a + k * d)
        else:
            out.append(float(tok))
    return out


def om_value(v):
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)


def server_annotations(block, port):
    """Backfills the block into a real Prometheus and returns {(time, query): (warnings, infos)}, with the
    position suffix ` (line:col)` the API appends removed."""
    tmp = tempfile.mkdtemp()
    try:
        step = seconds(block["interval"])
        fams = {}
        for s, v in block["series"].items():
            name = re.match(r"^[^{]*", s).group(0)
            # OpenMetrics is strict about spacing: rebuild `name{a="b",c="d"}` without blanks.
            pairs = re.findall(r'(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"', s[len(name):])
            om_series = name + "{" + ",".join('%s="%s"' % p for p in pairs) + "}"
            fams.setdefault(name, []).append((om_series, expand(v)))
        om = []
        for _, series in fams.items():
            for s, vals in series:
                for k, v in enumerate(vals):
                    if v is not None:
                        om.append("%s %s %s" % (s, om_value(v), repr(k * step)))
        om.append("# EOF")
        with open(os.path.join(tmp, "data.om"), "w") as f:
            f.write("\n".join(om) + "\n")
        data = os.path.join(tmp, "tsdb")
        subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", os.path.join(tmp, "data.om"), data],
                       check=True, capture_output=True)
        with open(os.path.join(tmp, "cfg.yml"), "w") as f:
            f.write("global: {}\n")
        proc = subprocess.Popen([PROMETHEUS, "--config.file=" + os.path.join(tmp, "cfg.yml"),
                                 "--storage.tsdb.path=" + data, "--web.listen-address=127.0.0.1:%d" % port],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = "http://127.0.0.1:%d" % port
            for _ in range(100):
                try:
                    urllib.request.urlopen(base + "/-/ready", timeout=1)
                    break
                except Exception:
                    time.sleep(0.3)
            out = {}
            for (start, end, step, queries) in block.get("ranges", []):
                for q in queries:
                    params = {"query": q, "start": seconds(start), "end": seconds(end), "step": seconds(step)}
                    url = base + "/api/v1/query_range?" + urllib.parse.urlencode(params)
                    try:
                        body = json.load(urllib.request.urlopen(url, timeout=30))
                    except urllib.error.HTTPError as e:
                        body = json.load(e)
                    out[("range", start, end, step, q)] = body
            for t in block["times"]:
                for q in block["queries"]:
                    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": q, "time": seconds(t)})
                    try:
                        body = json.load(urllib.request.urlopen(url, timeout=30))
                    except urllib.error.HTTPError as e:
                        body = json.load(e)
                    strip = lambda a: re.sub(r" \(\d+:\d+\)$", "", a)
                    out[(t, q)] = ([strip(w) for w in body.get("warnings", [])],
                                   [strip(i) for i in body.get("infos", [])])
            return out
        finally:
            proc.terminate()
            proc.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    lines = [
        "# Generated by gen.py from the reference Prometheus 3.5; do not edit. Values and errors come from",
        "# promtool test rules, annotations (expect warn/info) from a Prometheus server holding the same data.",
        "",
    ]
    for bi, block in enumerate(BLOCKS):
        annotations = server_annotations(block, 19391 + bi)
        lines.append("clear")
        lines.append("load " + block["interval"])
        for s, v in block["series"].items():
            lines.append("  " + s + " " + v)
        lines.append("")
        for t in block["times"]:
            res = promtool_results(block, t, block["queries"])
            for q in block["queries"]:
                kind, val = res[q]
                if kind == "err":
                    lines.append("eval_fail instant at %s %s" % (t, q))
                    if "[" in val:
                        # The series listed in brackets come from Go map iteration: match the rest only.
                        head, _, rest = val.partition("[")
                        _, _, tail = rest.rpartition("]")
                        lines.append("  expected_fail_regexp ^" + rx_escape(head) + r"\[.*\]" + rx_escape(tail) + "$")
                    else:
                        lines.append("  expected_fail_message " + val)
                else:
                    lines.append("eval instant at %s %s" % (t, q))
                    warns, infos = annotations.get((t, q), ([], []))
                    for w in warns:
                        lines.append("  expect warn msg: " + w)
                    for i in infos:
                        lines.append("  expect info msg: " + i)
                    for labels, v in val:
                        lines.append("  %s %s" % (labels, v))
                lines.append("")
        for (start, end, step, queries) in block.get("ranges", []):
            n = int((seconds(end) - seconds(start)) // seconds(step)) + 1
            for q in queries:
                body = annotations[("range", start, end, step, q)]
                if body.get("status") != "success":
                    lines.append("eval_fail range from %s to %s step %s %s" % (start, end, step, q))
                    lines.append("  expected_fail_message " + body.get("error", ""))
                    lines.append("")
                    continue
                lines.append("eval range from %s to %s step %s %s" % (start, end, step, q))
                strip = lambda a: re.sub(r" \(\d+:\d+\)$", "", a)
                for w in body.get("warnings", []):
                    lines.append("  expect warn msg: " + strip(w))
                for i in body.get("infos", []):
                    lines.append("  expect info msg: " + strip(i))
                for series in body["data"]["result"]:
                    labels = "{" + ", ".join('%s="%s"' % (k, v.replace("\\", "\\\\").replace('"', '\\"'))
                                             for k, v in sorted(series["metric"].items())) + "}"
                    vals = ["_"] * n
                    for t, v in series["values"]:
                        vals[int(round((float(t) - seconds(start)) / seconds(step)))] = v
                    lines.append("  %s %s" % (labels, " ".join(vals)))
                lines.append("")
    with open(os.path.join(HERE, "reference.test"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
