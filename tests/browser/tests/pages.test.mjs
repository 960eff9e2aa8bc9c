// The targets page and the exemplar-coverage page end to end, against the real diamond binary
// scraping real HTTP targets on 127.0.0.1: one speaking OpenMetrics with an exemplar, one speaking
// the classic text format (which cannot carry exemplars), and one that refuses connections.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startDiamond, hasEndpoint } from '../lib/diamond.mjs';
import { launch, chromiumMissing } from '../lib/browser.mjs';

const skip = chromiumMissing() ?? false;
const HOSTILE = '<script>alert(5)</script>';
let srv;
let b;
const servers = [];
let omPort;
let classicPort;
let downPort;

function serve(handler) {
  return new Promise((ok) => {
    const s = createServer(handler);
    s.listen(0, '127.0.0.1', () => { servers.push(s); ok(s.address().port); });
  });
}

before(async () => {
  if (skip) return;
  let n = 0;
  omPort = await serve((req, res) => {
    n++;
    res.setHeader('Content-Type', 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    res.end(`# TYPE orders counter\norders_total{shop="berlin"} ${n} # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 1 ${(Date.now() / 1000).toFixed(3)}\n# EOF\n`);
  });
  classicPort = await serve((req, res) => {
    res.setHeader('Content-Type', 'text/plain; version=0.0.4; charset=utf-8');
    res.end('# TYPE legacy_requests_total counter\nlegacy_requests_total 3\n');
  });
  downPort = await serve(() => {});
  await new Promise((r) => servers.pop().close(r)); // closed: connections to it are refused
  srv = await startDiamond({
    config: `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n`
      + `  - job_name: om\n    static_configs:\n      - targets: ['127.0.0.1:${omPort}']\n        labels: {team: '${HOSTILE}'}\n`
      + `  - job_name: classic\n    static_configs:\n      - targets: ['127.0.0.1:${classicPort}']\n`
      + `  - job_name: down\n    static_configs:\n      - targets: ['127.0.0.1:${downPort}']\n`,
  });
  const deadline = Date.now() + 20000;
  for (;;) {
    const t = await (await fetch(`${srv.base}/api/v1/targets`)).json();
    const act = t.data.activeTargets;
    if (act.length === 3 && act.every((x) => x.health !== 'unknown') && act.find((x) => x.labels.job === 'om')?.exemplarsLastScrape > 0) break;
    if (Date.now() > deadline) throw new Error(`targets not scraped in 20 s: ${JSON.stringify(act)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  b = await launch();
});

after(async () => {
  await b?.close();
  await srv?.stop();
  for (const s of servers) s.close();
});

test('the targets page shows health, last scrape, errors, format and exemplars', { skip }, async () => {
  await b.page.goto(`${srv.base}/targets`);
  await b.page.waitForSelector('tr.target');
  await b.screenshot('targets');
  const rows = await b.page.$$eval('tr.target', (rs) => rs.map((r) => [...r.cells].map((c) => c.innerText)));
  const find = (port) => rows.find((r) => r[0].includes(`127.0.0.1:${port}`));
  const om = find(omPort);
  const classic = find(classicPort);
  const down = find(downPort);
  assert.equal(om[1], 'UP');
  assert.ok(om[2].includes(HOSTILE), om[2]);
  assert.match(om[3], /ago/);
  assert.match(om[4], /^OpenMetrics/);
  assert.match(om[4], /application\/openmetrics-text/);
  assert.match(om[5], /◆ 1 last scrape/);
  assert.equal(classic[1], 'UP');
  assert.match(classic[4], /not OpenMetrics/);
  assert.match(classic[4], /text\/plain/);
  assert.match(classic[5], /none/);
  assert.match(classic[6], /exemplars are only carried by OpenMetrics/);
  assert.equal(down[1], 'DOWN');
  assert.ok(down[6].trim().length > 0, 'the last error is shown');
  assert.equal(await b.page.evaluate(() => document.querySelectorAll('script').length), 1);
  assert.deepEqual(b.events.dialogs, []);
  // The filter narrows the list.
  await b.page.getByLabel('Filter targets').fill(`${classicPort}`);
  assert.equal(await b.page.locator('tr.target').count(), 1);
});

test('the exemplar-coverage page shows each metric\'s coverage and a metric\'s series', { skip }, async (t) => {
  // Runs without the endpoint too (it is being built beside this UI), marked TODO until it is on main.
  if (!(await hasEndpoint(srv.base, '/api/diamond/v1/exemplars/coverage'))) {
    t.todo('needs /api/diamond/v1/exemplars/coverage, not in this build');
  }
  await b.page.goto(`${srv.base}/targets`);
  await b.page.getByRole('link', { name: 'Exemplar coverage' }).click();
  await b.page.waitForURL(/\/exemplars$/);
  await b.page.waitForSelector('.notice, table.grid');
  await b.screenshot('coverage');
  assert.ok(await b.page.locator('table.grid').count() > 0, await b.page.locator('main').innerText());
  const text = await b.page.locator('table.grid').first().innerText();
  assert.match(text, /orders_total/);
  await b.page.getByRole('button', { name: 'orders_total' }).click();
  await b.page.waitForURL(/metric=orders_total/);
  await b.page.waitForSelector('h2');
  assert.match(await b.page.locator('main').innerText(), /orders_total\{.*shop="berlin"/s);
  await b.screenshot('coverage-metric');
});

test('navigation between pages keeps the app (no reload) and the back button works', { skip }, async () => {
  await b.page.goto(`${srv.base}/graph?expr=orders_total`);
  await b.page.waitForSelector('#graph[data-rendered]');
  await b.page.evaluate(() => { window.__sameDocument = true; });
  await b.page.getByRole('link', { name: 'Targets' }).click();
  await b.page.waitForSelector('tr.target');
  await b.page.goBack();
  await b.page.waitForSelector('#graph[data-rendered]');
  assert.equal(await b.page.evaluate(() => window.__sameDocument), true);
  assert.equal(await b.page.getByLabel('PromQL expression').inputValue(), 'orders_total');
});
