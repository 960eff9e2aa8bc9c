// The targets page: every scrape target with its health, last scrape, last error, the format it
// answered in (OpenMetrics or not) and whether it sends exemplars, with Diamond's exemplar-loss
// warnings from /api/v1/targets.

import { h, clear, notice, link, labelTable } from './dom.js';
import * as api from './api.js';
import { ago } from './time.js';

function formatCell(t) {
  if (!t.contentType) return h('span', { class: 'muted' }, '–');
  const om = t.openMetrics === true;
  return h('div', null,
    h('span', { class: om ? 'badge badge-ok' : 'badge badge-warn' }, om ? 'OpenMetrics' : 'not OpenMetrics'),
    t.contentType ? h('div', { class: 'mono small' }, t.contentType) : null);
}

function exemplarCell(t) {
  const n = t.exemplarsLastScrape;
  if (n === undefined || n === null) return h('span', { class: 'muted' }, '–');
  return h('span', { class: n > 0 ? 'badge badge-ok' : 'badge badge-muted' }, n > 0 ? `◆ ${n} last scrape` : 'none');
}

export function targetsPage(root) {
  const body = h('div', { class: 'targets' }, h('span', { class: 'muted' }, 'Loading…'));
  const filter = h('input', { type: 'search', placeholder: 'Filter by endpoint or labels', 'aria-label': 'Filter targets' });
  const unhealthy = h('input', { type: 'checkbox' });
  clear(root).append(h('section', { class: 'panel' },
    h('h1', null, 'Targets'),
    h('div', { class: 'controls' }, filter, h('label', { class: 'toggle' }, unhealthy, ' Only unhealthy or with warnings')),
    body));
  let data = null;

  function render() {
    clear(body);
    const q = filter.value.trim().toLowerCase();
    const pools = new Map();
    for (const t of data.activeTargets ?? []) {
      const text = `${t.scrapeUrl} ${JSON.stringify(t.labels)}`.toLowerCase();
      if (q && !text.includes(q)) continue;
      if (unhealthy.checked && t.health === 'up' && !(t.warnings ?? []).length) continue;
      if (!pools.has(t.scrapePool)) pools.set(t.scrapePool, []);
      pools.get(t.scrapePool).push(t);
    }
    if (!pools.size) { body.append(h('p', { class: 'muted' }, 'No targets.')); return; }
    for (const [pool, ts] of [...pools.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
      const up = ts.filter((t) => t.health === 'up').length;
      const rows = ts.map((t) => h('tr', { class: `target health-${t.health}` },
        h('td', null, link(t.scrapeUrl, t.scrapeUrl)),
        h('td', null, h('span', { class: `badge health health-${t.health}` }, t.health.toUpperCase())),
        h('td', null, labelTable(t.labels ?? {}, 'labels compact')),
        h('td', null, t.lastScrape && !t.lastScrape.startsWith('0001') ? ago(Date.parse(t.lastScrape) / 1000) : 'never',
          h('div', { class: 'small muted' }, `${(t.lastScrapeDuration * 1000).toFixed(1)} ms`)),
        h('td', null, formatCell(t)),
        h('td', null, exemplarCell(t)),
        h('td', { class: 'errors' },
          t.lastError ? h('div', { class: 'error-text' }, t.lastError) : null,
          (t.warnings ?? []).map((w) => h('div', { class: 'warning-text' }, w)))));
      body.append(h('details', { open: true, class: 'pool' },
        h('summary', null, h('strong', null, pool), ` (${up}/${ts.length} up)`),
        h('table', { class: 'grid' },
          h('thead', null, h('tr', null, ['Endpoint', 'State', 'Labels', 'Last scrape', 'Format', 'Exemplars', 'Error / warnings'].map((c) => h('th', null, c)))),
          h('tbody', null, rows))));
    }
  }

  filter.addEventListener('input', () => data && render());
  unhealthy.addEventListener('change', () => data && render());
  api.targets().then((d) => { data = d; render(); }).catch((e) => clear(body).append(notice('error', e.message)));
  const timer = setInterval(() => api.targets().then((d) => { data = d; render(); }).catch(() => {}), 15000);
  return () => clearInterval(timer);
}
