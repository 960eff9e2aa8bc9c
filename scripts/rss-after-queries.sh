#!/bin/bash
# Resident size of a Diamond server before and 2 s after large queries (BENCHMARKS.md, run of 2026-12-07).
# usage: scripts/rss-after-queries.sh BIN DATA_DIR END_MS [PORT]
#   DATA_DIR holds the 10k data of crates/bench/src/bin/promql-data.rs, written with --end-ms=END_MS
#   (e.g. start `BIN serve --storage.tsdb.path=DATA_DIR`, run promql-data --sets=10000 against it, stop it).
set -euo pipefail
BIN=$1; DATA=$2; END=$3; PORT=${4:-19412}
CFG=$(mktemp); echo "scrape_configs: []" > "$CFG"
"$BIN" serve --web.listen-address=127.0.0.1:$PORT --storage.tsdb.path="$DATA" --config.file="$CFG" --log.level=warn >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -f "$CFG"' EXIT
for _ in $(seq 100); do curl -sf localhost:$PORT/-/ready >/dev/null && break; sleep 0.3; done; sleep 2
q() { curl -sf -o /dev/null "localhost:$PORT$1" --data-urlencode "query=$2" "${@:3}" -G; }
rss() { echo "$1: $(grep VmRSS /proc/$PID/status)"; }
rss "at start"
q /api/v1/query 'count_over_time(http_requests_total{set="10k"}[7h])' --data-urlencode "time=$((END / 1000))"
sleep 2; rss "2 s after the 7 h check"
for _ in $(seq 60); do
  q /api/v1/query 'sum by (job) (rate(http_requests_total{set="10k"}[5m]))' --data-urlencode "time=$((END / 1000))"
done
q /api/v1/query_range 'sum by (job) (rate(http_requests_total{set="10k"}[5m]))' \
  --data-urlencode "start=$((END / 1000 - 21600))" --data-urlencode "end=$((END / 1000))" --data-urlencode step=15
sleep 2; rss "2 s after the 6 h range"
