// Browser benchmark of the graph page: 10,000 exemplars over 50 series (200 each, 45 minutes), loaded
// into the real diamond binary by remote write, drawn in Debian's Chromium.
// Measures (a) time to first render: navigation start to the chart drawn with its diamonds (the
// next animation frame after the page reports it rendered), over RUNS page loads; (b) hover latency:
// a mousemove on a diamond to the tooltip filled in and the frame after it, measured in the page
// for HOVERS diamonds, plus the same through Playwright's mouse (adds the CDP round trip).
// Usage: node bench/graph-bench.mjs   (DIAMOND_BIN=target/release/diamond to choose the server)

import { startDiamond } from '../lib/diamond.mjs';
import { remoteWrite } from '../lib/remote-write.mjs';
import { launch } from '../lib/browser.mjs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../lib/diamond.mjs';

const SERIES = 50;
const PER_SERIES = 200;
const RUNS = Number(process.env.RUNS ?? 10);
const HOVERS = Number(process.env.HOVERS ?? 200);

if (!process.env.DIAMOND_BIN && existsSync(join(repoRoot, 'target/release/diamond'))) {
  process.env.DIAMOND_BIN = join(repoRoot, 'target/release/diamond');
}

const q = (xs, p) => { const s = xs.slice().sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const fmt = (xs) => `median ${q(xs, 0.5).toFixed(1)} ms, p90 ${q(xs, 0.9).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms (n=${xs.length})`;

const srv = await startDiamond({ config: 'global:\n  scrape_interval: 1h\nscrape_configs: []\n' });
try {
  const now = Math.floor(Date.now() / 1000);
  const start = now - 2700; // 45 minutes: every write stays inside the head's appendable window (max time - 1h)
  const series = [];
  for (let i = 0; i < SERIES; i++) {
    const samples = [];
    for (let t = start - 60; t <= now; t += 15) samples.push([t * 1000, 1 + i * 0.1 + 0.5 * Math.sin(t / 300 + i)]);
    const exemplars = [];
    for (let k = 0; k < PER_SERIES; k++) {
      const ts = (start + 5 + k * 13.4 + (i % 7)) * 1000;
      const tid = (BigInt(i) * 1000003n + BigInt(k) + 1n).toString(16).padStart(32, '0');
      exemplars.push({ labels: { trace_id: tid }, value: 1 + i * 0.1 + Math.abs(Math.sin(k + i)) * 2, ts: Math.round(ts) });
    }
    series.push({ labels: { __name__: 'bench_latency_seconds', instance: `host-${String(i).padStart(2, '0')}`, job: 'bench' }, samples, exemplars });
  }
  for (let i = 0; i < SERIES; i += 10) await remoteWrite(srv.base, series.slice(i, i + 10));
  const ex = await (await fetch(`${srv.base}/api/v1/query_exemplars?query=bench_latency_seconds&start=${start}&end=${now}`)).json();
  const total = ex.data.reduce((n, s) => n + s.exemplars.length, 0);
  if (total !== SERIES * PER_SERIES) throw new Error(`stored ${total} exemplars, expected ${SERIES * PER_SERIES}`);

  const b = await launch({ width: 1600, height: 1000 });
  const url = `${srv.base}/graph?expr=bench_latency_seconds&start=${start}&end=${now}`;
  const firstRender = [];
  const linkFetch = [];
  let probe;
  for (let r = 0; r < RUNS + 1; r++) {
    await b.page.goto(url);
    await b.page.waitForSelector('#graph[data-rendered]');
    const ms = await b.page.evaluate(() => new Promise((ok) => requestAnimationFrame(() => ok(performance.now()))));
    if (r > 0) firstRender.push(ms); // the first load warms the server's caches and the browser's
    // The links answer as the browser fetched it: bytes on the wire (gzip when the server compresses),
    // bytes decoded, and its fetch duration.
    const res = await b.page.evaluate(() => performance.getEntriesByType('resource')
      .filter((e) => e.name.includes('/exemplars/links'))
      .map((e) => ({ wire: e.encodedBodySize, body: e.decodedBodySize, ms: e.duration }))[0]);
    if (r > 0 && res) linkFetch.push(res);
  }
  probe = await b.page.evaluate(() => document.querySelector('#graph').diamondProbe());
  await b.screenshot('bench-10k');

  const inPage = await b.page.evaluate(async (n) => {
    const el = document.querySelector('#graph');
    const over = el.querySelector('.u-over');
    const tip = document.querySelector('.tooltip');
    const ds = el.diamondProbe().diamonds;
    const times = [];
    let shown = 0;
    for (let i = 0; i < n; i++) {
      const d = ds[Math.floor((i * 7919) % ds.length)];
      const t0 = performance.now();
      over.dispatchEvent(new MouseEvent('mousemove', { clientX: d.x, clientY: d.y, bubbles: true }));
      if (!tip.hidden) shown++;
      await new Promise((ok) => requestAnimationFrame(() => ok()));
      times.push(performance.now() - t0);
      over.dispatchEvent(new MouseEvent('mousemove', { clientX: d.x, clientY: d.y - 40, bubbles: true }));
    }
    return { times, shown };
  }, HOVERS);
  if (inPage.shown !== HOVERS) throw new Error(`tooltip shown for ${inPage.shown} of ${HOVERS} hovers`);

  const viaCdp = [];
  for (let i = 0; i < 50; i++) {
    const d = probe.diamonds[(i * 104729) % probe.diamonds.length];
    await b.page.mouse.move(d.x, d.y - 40);
    const t0 = performance.now();
    await b.page.mouse.move(d.x, d.y);
    await b.page.waitForFunction(() => !document.querySelector('.tooltip').hidden);
    viaCdp.push(performance.now() - t0);
  }
  await b.page.mouse.move(probe.diamonds[0].x, probe.diamonds[0].y);
  await b.screenshot('bench-10k-hover');
  await b.close();

  console.log(`server: ${process.env.DIAMOND_BIN ?? 'target/debug/diamond'}`);
  console.log(`exemplars: ${probe.stats.total} over ${SERIES} series; diamonds drawn ${probe.stats.drawn}, thinned ${probe.stats.thinned}`);
  if (linkFetch.length) {
    const l = linkFetch[0];
    console.log(`links answer: ${(l.wire / 1e6).toFixed(2)} MB on the wire, ${(l.body / 1e6).toFixed(2)} MB decoded; fetch ${fmt(linkFetch.map((x) => x.ms))}`);
  }
  console.log(`time to first render (navigation start to the frame after the chart is drawn): ${fmt(firstRender)}`);
  console.log(`hover latency in the page (mousemove to the next frame, tooltip filled): ${fmt(inPage.times)}`);
  console.log(`hover latency through Playwright (mouse.move to tooltip visible, includes CDP round trips): ${fmt(viaCdp)}`);
} finally {
  await srv.stop();
}
