// The graph page end to end: the real diamond binary, series and exemplars loaded by remote write,
// traces by OTLP into the embedded trace store, and Debian's Chromium. Finds the diamonds where
// the exemplars are, hovers them, clicks through to the trace, and checks that hostile label values
// stay text.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDiamond } from '../lib/diamond.mjs';
import { remoteWrite } from '../lib/remote-write.mjs';
import { exportTraces } from '../lib/otlp.mjs';
import { launch, chromiumMissing } from '../lib/browser.mjs';

const skip = chromiumMissing() ?? false;
const HOSTILE_NOTE = '<script>window.__pwned=1</script>"\'';
const HOSTILE_ROUTE = '<img src=x onerror=alert(1)>';
const T_FOUND = '4bf92f3577b34da6a3ce929d0e0e4736';
const T_FOUND_UPPER = '00F067AA0BA902B7A3CE929D0E0E4737'; // found under traceID, in upper case
const T_MISSING = '0af7651916cd43dd8448eb211c80319c';
const S_FOUND = '00f067aa0ba902b7';

let srv;
let b;
let now;
let start;
let end;
let exemplars;

before(async () => {
  if (skip) return;
  srv = await startDiamond({
    config: 'global:\n  scrape_interval: 1h\nscrape_configs: []\n'
      // A link-only destination (never checked) for exemplars whose trace label is trace_id.
      + 'trace_destinations:\n  - name: logs\n    url: https://logs.example/search?trace={trace_id}\n    label_names: [trace_id]\n',
  });
  now = Math.floor(Date.now() / 1000);
  start = now - 1800;
  end = now;
  const samples = (f) => {
    const out = [];
    for (let t = start - 300; t <= now; t += 15) out.push([t * 1000, f(t)]);
    return out;
  };
  exemplars = [
    { labels: { trace_id: T_FOUND, span_id: S_FOUND }, value: 0.9, ts: (now - 1500) * 1000, expect: 'found' },
    { labels: { traceID: T_FOUND_UPPER }, value: 0.55, ts: (now - 1200) * 1000, expect: 'found' },
    { labels: { trace_id: T_MISSING }, value: 0.7, ts: (now - 900) * 1000, expect: 'missing' },
    { labels: { trace_id: 'javascript:alert(1)', note: HOSTILE_NOTE }, value: 0.3, ts: (now - 600) * 1000, expect: 'unparsable' },
    // Faint diamonds are see-through, so this one sits below the series' range (0.15..0.35):
    // at 0.2 the /cart line crossed its centre for some values of `now` and the pixel read opaque.
    { labels: { user: 'a\'b"c' }, value: 0.1, ts: (now - 300) * 1000, expect: 'none' },
  ];
  await remoteWrite(srv.base, [
    {
      labels: { __name__: 'checkout_latency_seconds', job: 'shop', route: '/cart' },
      samples: samples((t) => 0.25 + 0.1 * Math.sin(t / 120)),
      exemplars: exemplars.map(({ labels, value, ts }) => ({ labels, value, ts })),
    },
    {
      labels: { __name__: 'checkout_latency_seconds', job: 'shop', route: HOSTILE_ROUTE },
      samples: samples(() => 0.4),
      exemplars: [{ labels: { x: '<b onmouseover=alert(3)>hi</b>' }, value: 0.45, ts: (now - 450) * 1000 }],
    },
  ]);
  const t0 = (now - 1500) * 1000;
  const status = await exportTraces(srv.base, [
    { service: 'frontend', traceId: T_FOUND, spanId: S_FOUND, name: 'GET /cart', startMs: t0, durationMs: 900, attributes: { 'http.route': '/cart', 'http.status_code': 500 } },
    { service: 'cart', traceId: T_FOUND, spanId: '1111111111111111', parentSpanId: S_FOUND, name: 'LoadCart', startMs: t0 + 50, durationMs: 600, attributes: { 'cart.items': 3 } },
    { service: 'db', traceId: T_FOUND, spanId: '2222222222222222', parentSpanId: '1111111111111111', name: 'SELECT carts', startMs: t0 + 100, durationMs: 450, attributes: { 'db.statement': HOSTILE_NOTE }, error: 'deadline exceeded' },
    { service: 'frontend', traceId: T_FOUND_UPPER.toLowerCase(), spanId: '3333333333333333', name: 'GET /pay', startMs: t0 + 300000, durationMs: 120 },
  ]);
  assert.equal(status, 200, 'POST /v1/traces (OTLP/JSON) into the embedded trace store');
  b = await launch();
});

after(async () => {
  await b?.close();
  await srv?.stop();
});

const graphUrl = (expr) => `${srv.base}/graph?expr=${encodeURIComponent(expr)}&start=${start}&end=${end}`;

async function openGraph(expr) {
  await b.page.goto(graphUrl(expr));
  await b.page.waitForSelector('#graph[data-rendered]', { timeout: 10000 }).catch((e) => {
    throw new Error(`${e.message}\npage errors: ${b.events.pageErrors.join('\n')}\nconsole: ${b.events.errors.join('\n')}`);
  });
  return b.page.evaluate(() => document.querySelector('#graph').diamondProbe());
}

// found and missing come from the embedded trace store, which the links endpoint asks.
const expectedStatus = (e) => e.expect;

// Expected centre pixels (RGBA, not premultiplied: uPlot's canvas is transparent) for series 0
// (#1f77b4): see drawDiamond in chart.js.
const CENTRE = {
  found: [31, 119, 180, 255],
  unknown: [31, 119, 180, 153],
  missing: [212, 0, 0, 255],
  unparsable: [255, 255, 255, 255],
  none: [31, 119, 180, 140],
};

/** The canvas pixel at a page position, as [r, g, b, a]. */
function pixel(x, y) {
  return b.page.evaluate(([px, py]) => {
    const c = document.querySelector('#graph canvas');
    const r = c.getBoundingClientRect();
    const s = c.width / r.width;
    return Array.from(c.getContext('2d').getImageData(Math.round((px - r.left) * s), Math.round((py - r.top) * s), 1, 1).data);
  }, [x, y]);
}

test('the page carries a strict Content-Security-Policy', { skip }, async () => {
  const res = await b.page.goto(`${srv.base}/graph`);
  const csp = res.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
});

test('diamonds sit at each exemplar\'s time and value, in the style of its link status', { skip }, async () => {
  const probe = await openGraph('checkout_latency_seconds');
  await b.screenshot('graph-exemplars');
  assert.equal(probe.stats.total, 6, JSON.stringify(probe.stats));
  assert.equal(probe.diamonds.length, 6, 'six exemplars far apart: none thinned');
  const { left, top, width, height } = probe.plot;
  const [yMin, yMax] = probe.scales.y;
  assert.deepEqual(probe.scales.x, [start, end]);
  for (const e of exemplars) {
    const d = probe.diamonds.find((x) => Math.abs(x.ts * 1000 - e.ts) < 1);
    assert.ok(d, `a diamond at ${e.ts}`);
    assert.equal(d.value, e.value);
    assert.equal(d.group, 0, 'coloured by the /cart series');
    assert.equal(d.status, expectedStatus(e), `status of ${JSON.stringify(e.labels)}`);
    const wantX = left + ((e.ts / 1000 - start) / (end - start)) * width;
    assert.ok(Math.abs(d.x - wantX) < 1.5, `x ${d.x} vs ${wantX}`);
    const wantY = top + ((yMax - e.value) / (yMax - yMin)) * height;
    assert.ok(Math.abs(d.y - wantY) < 1.5, `y ${d.y} vs ${wantY}`);
    assert.ok(yMin <= e.value && e.value <= yMax, 'the y range includes every exemplar');
    // The centre pixel tells the statuses apart: found is the series colour, unknown the same at 60 %,
    // missing (a dangling link) the red slash, unparsable hollow (white centre), none faint.
    const px = await pixel(d.x, d.y);
    const want = CENTRE[d.status];
    if (want) assert.ok(px.every((c, i) => Math.abs(c - want[i]) <= 30), `centre of the ${d.status} diamond is ${px}, want ~${want}`);
  }
  // y is one linear scale for every diamond: higher value, higher on the page.
  const ds = probe.diamonds.slice().sort((p, q) => p.value - q.value);
  const k = (ds.at(-1).y - ds[0].y) / (ds.at(-1).value - ds[0].value);
  assert.ok(k < 0);
  for (const d of ds) assert.ok(Math.abs(ds[0].y + k * (d.value - ds[0].value) - d.y) < 1, `y of ${d.value}`);
  assert.equal(probe.diamonds.find((d) => d.labels.traceID).traceId, T_FOUND_UPPER.toLowerCase(), 'normalised by the links endpoint');
});

test('hovering a diamond shows its labels, value, time and series', { skip }, async () => {
  const probe = await openGraph('checkout_latency_seconds');
  const d = probe.diamonds.find((x) => x.value === 0.9);
  await b.page.mouse.move(d.x, d.y);
  const tip = b.page.locator('.tooltip');
  await tip.waitFor({ state: 'visible' });
  const text = await tip.innerText();
  assert.match(text, /checkout_latency_seconds\{job="shop", route="\/cart"\}/);
  assert.match(text, new RegExp(`trace_id\\s+${T_FOUND}`));
  assert.match(text, new RegExp(`span_id\\s+${S_FOUND}`));
  assert.match(text, /value\s+0\.9/);
  assert.doesNotMatch(text, /\bnull\b|\bundefined\b/);
  assert.ok(text.includes(new Date((now - 1500) * 1000).toISOString().slice(0, 19).replace('T', ' ')), text);
  await b.screenshot('graph-hover');
  await b.page.mouse.move(d.x + 60, d.y + 60);
  await tip.waitFor({ state: 'hidden' });
});

test('hostile label values render as text and never run', { skip }, async () => {
  const probe = await openGraph('checkout_latency_seconds');
  const d = probe.diamonds.find((x) => x.value === 0.3);
  await b.page.mouse.move(d.x, d.y);
  const tip = b.page.locator('.tooltip');
  await tip.waitFor({ state: 'visible' });
  const text = await tip.innerText();
  assert.ok(text.includes(HOSTILE_NOTE), text);
  assert.doesNotMatch(text, /\bnull\b|\bundefined\b/);
  assert.ok(text.includes('javascript:alert(1)'), text);
  await b.screenshot('graph-hostile');
  await b.page.mouse.click(d.x, d.y);
  const other = probe.diamonds.find((x) => x.value === 0.45);
  await b.page.mouse.move(other.x, other.y);
  assert.ok((await tip.innerText()).includes('<b onmouseover=alert(3)>hi</b>'));
  assert.ok((await tip.innerText()).includes(HOSTILE_ROUTE));
  const legend = await b.page.locator('.legend').innerText();
  assert.ok(legend.includes(HOSTILE_ROUTE), legend);
  const dom = await b.page.evaluate(() => ({
    pwned: window.__pwned,
    scripts: document.querySelectorAll('script').length,
    injected: document.querySelectorAll('img[src="x"], b[onmouseover], [onerror], [onmouseover]').length,
    links: [...document.querySelectorAll('a')].map((a) => a.getAttribute('href')),
    path: location.pathname,
  }));
  assert.equal(dom.pwned, undefined);
  assert.equal(dom.scripts, 1, 'only the app module');
  assert.equal(dom.injected, 0);
  assert.ok(dom.links.every((h) => !/^\s*javascript:/i.test(h)), dom.links.join(' '));
  assert.equal(dom.path, '/graph', 'a click on an unparsable trace ID goes nowhere');
  assert.deepEqual(b.events.dialogs, []);
  assert.deepEqual(b.events.pageErrors, []);
  assert.deepEqual(b.events.errors, [], 'no console errors (CSP violations included)');
});

test('only http(s) and same-origin paths become links', { skip }, async () => {
  await b.page.goto(`${srv.base}/graph`);
  const r = await b.page.evaluate(async () => {
    const { safeUrl, link } = await import('/assets/js/dom.js');
    const cases = ['javascript:alert(1)', ' JavaScript:alert(1)', 'java\tscript:alert(1)', 'data:text/html,<b>x</b>',
      'vbscript:x', 'blob:http://x/1', 'file:///etc/passwd', '//evil.example/x', '/\\evil.example', 'trace/abc', '',
      'http://tempo:3200/trace/abc', 'https://jaeger.example/trace/abc?x=1', '/trace/abc'];
    return { urls: cases.map((c) => [c, safeUrl(c)]), tag: link('javascript:alert(1)', 'x').tagName };
  });
  const got = Object.fromEntries(r.urls);
  for (const bad of ['javascript:alert(1)', ' JavaScript:alert(1)', 'java\tscript:alert(1)', 'data:text/html,<b>x</b>',
    'vbscript:x', 'blob:http://x/1', 'file:///etc/passwd', '/\\evil.example', 'trace/abc', '']) {
    assert.equal(got[bad], null, bad);
  }
  assert.equal(got['//evil.example/x'], null, 'protocol-relative is not a path on this server');
  assert.equal(got['http://tempo:3200/trace/abc'], 'http://tempo:3200/trace/abc');
  assert.equal(got['https://jaeger.example/trace/abc?x=1'], 'https://jaeger.example/trace/abc?x=1');
  assert.equal(got['/trace/abc'], '/trace/abc');
  assert.equal(r.tag, 'SPAN');
});

test('hover lists every destination with its status; a click opens the trace page with the external links beside it', { skip }, async () => {
  const probe = await openGraph('checkout_latency_seconds');
  const d = probe.diamonds.find((x) => x.value === 0.9);
  await b.page.mouse.move(d.x, d.y);
  const tip = b.page.locator('.tooltip');
  await tip.waitFor({ state: 'visible' });
  const dests = await b.page.$$eval('.tooltip .tt-dests li', (ls) => ls.map((l) => [l.dataset.status, l.innerText]));
  assert.deepEqual(dests.map(([st]) => st), ['found', 'unchecked']);
  assert.match(dests[0][1], /^diamond \(this server\)/);
  assert.match(dests[1][1], /^logs ↗ link only, never checked/);
  assert.match(await tip.innerText(), /Click to open the trace view/);
  // The exemplar with its ID under traceID has no logs link (that destination reads trace_id only).
  const up = probe.diamonds.find((x) => x.value === 0.55);
  await b.page.mouse.move(up.x, up.y);
  await b.page.waitForFunction(() => document.querySelectorAll('.tooltip .tt-dests li').length === 1);
  await b.page.mouse.move(d.x, d.y);
  await b.page.mouse.click(d.x, d.y);
  await b.page.waitForURL(new RegExp(`/trace/${T_FOUND}\\?`));
  const ext = b.page.locator('.ext-links a');
  await ext.waitFor();
  assert.equal(await ext.getAttribute('href'), `https://logs.example/search?trace=${T_FOUND}`);
  assert.equal(await ext.getAttribute('target'), '_blank');
  assert.equal(await ext.getAttribute('rel'), 'noopener noreferrer');
  assert.equal(await ext.innerText(), 'logs ↗');
  assert.match(await b.page.locator('h1').innerText(), new RegExp(`Trace ${T_FOUND}`));
});

test('clicking a diamond opens the embedded trace view with the right spans', { skip }, async () => {
  const probe = await openGraph('checkout_latency_seconds');
  const d = probe.diamonds.find((x) => x.value === 0.9);
  await b.page.mouse.click(d.x, d.y);
  await b.page.waitForURL(new RegExp(`/trace/${T_FOUND}`));
  assert.match(b.page.url(), new RegExp(`span=${S_FOUND}`));
  await b.page.waitForSelector('.waterfall .wf-row.span', { timeout: 10000 }).finally(() => b.screenshot('trace-view'));
  const rows = await b.page.$$eval('.waterfall .wf-row.span', (rs) => rs.map((r) => ({
    svc: r.querySelector('.wf-svc').textContent, op: r.querySelector('.wf-op').textContent,
    error: r.classList.contains('span-error'), focus: r.classList.contains('span-focus'), id: r.dataset.spanId,
    indent: parseFloat(r.querySelector('.wf-name').style.paddingLeft),
  })));
  assert.deepEqual(rows.map((r) => `${r.svc}: ${r.op}`), ['frontend: GET /cart', 'cart: LoadCart', 'db: SELECT carts']);
  assert.deepEqual(rows.map((r) => r.error), [false, false, true]);
  assert.deepEqual(rows.map((r) => r.focus), [true, false, false], 'the exemplar\'s span is highlighted');
  assert.ok(rows[0].indent < rows[1].indent && rows[1].indent < rows[2].indent, 'children indented under parents');
  const durs = await b.page.$$eval('.waterfall .wf-dur', (x) => x.map((e) => e.textContent));
  assert.deepEqual(durs, ['900.0ms', '600.0ms', '450.0ms']);
  // The error span is open with its attributes; the hostile attribute is text.
  const details = await b.page.locator('.wf-details:not([hidden])').allInnerTexts();
  assert.ok(details.some((x) => x.includes(HOSTILE_NOTE)), details.join('\n'));
  assert.equal(await b.page.evaluate(() => window.__pwned), undefined);
  await b.page.getByRole('button', { name: '← back to the graph' }).click();
  await b.page.waitForSelector('#graph[data-rendered]');
  assert.equal(new URL(b.page.url()).pathname, '/graph');
});

test('a dangling link opens a trace view that says so', { skip }, async () => {
  const probe = await openGraph('checkout_latency_seconds');
  const d = probe.diamonds.find((x) => x.value === 0.7);
  await b.page.mouse.click(d.x, d.y);
  await b.page.waitForURL(new RegExp(`/trace/${T_MISSING}`));
  const n = b.page.locator('.notice');
  await n.waitFor();
  assert.match(await n.innerText(), /does not hold this trace/);
  await b.screenshot('trace-missing');
});

test('the exemplars toggle hides and shows the diamonds', { skip }, async () => {
  let probe = await openGraph('checkout_latency_seconds');
  assert.equal(probe.diamonds.length, 6);
  await b.page.locator('#exemplars-toggle').uncheck();
  probe = await b.page.evaluate(() => document.querySelector('#graph').diamondProbe());
  assert.equal(probe.diamonds.length, 0);
  assert.match(b.page.url(), /exemplars=0/);
  await b.page.locator('#exemplars-toggle').check();
  await b.page.waitForFunction(() => document.querySelector('#graph')?.diamondProbe?.().diamonds.length === 6);
});

test('the PromQL box completes metric names, label names and label values', { skip }, async () => {
  await b.page.goto(`${srv.base}/graph?start=${start}&end=${end}`);
  const box = b.page.getByLabel('PromQL expression');
  await box.click();
  await box.pressSequentially('checkout_la');
  const list = b.page.locator('.completions');
  await list.locator('li', { hasText: 'checkout_latency_seconds' }).waitFor();
  await box.press('Tab');
  assert.equal(await box.inputValue(), 'checkout_latency_seconds');
  await box.pressSequentially('{ro');
  await list.locator('li', { hasText: 'route' }).waitFor();
  await box.press('Tab');
  assert.equal(await box.inputValue(), 'checkout_latency_seconds{route');
  await box.pressSequentially('="');
  const values = list.locator('li .c-text');
  await values.first().waitFor();
  const texts = await values.allTextContents();
  assert.deepEqual(texts.sort(), ['/cart', HOSTILE_ROUTE].sort());
  await b.screenshot('graph-completion');
  await box.press('ArrowDown');
  await box.press('Enter');
  const v = await box.inputValue();
  assert.ok(v === 'checkout_latency_seconds{route="/cart"' || v === `checkout_latency_seconds{route="${HOSTILE_ROUTE}"`, v);
  await box.pressSequentially('}');
  await box.press('Enter');
  await b.page.waitForFunction(() => document.querySelector('#graph')?.dataset.rendered);
  assert.match(decodeURIComponent(new URL(b.page.url()).search), /expr=checkout_latency_seconds\{route=/);
  assert.equal(await b.page.locator('.legend-item').count(), 1);
});

test('relative and absolute ranges, and the step Prometheus would choose', { skip }, async () => {
  await b.page.goto(`${srv.base}/graph?expr=checkout_latency_seconds&range=30m`);
  await b.page.waitForSelector('#graph[data-rendered]');
  assert.match(await b.page.locator('.query-status').innerText(), /2 series, step 7s/);
  await b.page.getByLabel('Range').selectOption('1h');
  await b.page.waitForFunction(() => /step 14s/.test(document.querySelector('.query-status').textContent));
  assert.match(b.page.url(), /range=1h/);
  await b.page.getByLabel('Range').selectOption('custom');
  await b.page.waitForFunction(() => /start=/.test(location.search));
  await b.page.getByLabel('Step').fill('1m');
  await b.page.getByLabel('Step').press('Enter');
  await b.page.waitForFunction(() => /step 1m/.test(document.querySelector('.query-status').textContent));
  const status = await b.page.locator('.query-status').innerText();
  assert.match(status, /2 series, step 1m/);
});
