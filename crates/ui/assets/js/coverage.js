// The exemplar-coverage page: per metric, how many series have exemplars and how far back; for one
// metric, every series with the reason when it has none (GET /api/diamond/v1/exemplars/coverage).

import { h, clear, notice, formatSeries } from './dom.js';
import * as api from './api.js';
import { formatTime, formatDuration } from './time.js';

function when(t) {
  return t === null || t === undefined ? '–' : formatTime(t);
}

export function coveragePage(root, navigate) {
  const params = new URLSearchParams(location.search);
  const metric = params.get('metric');
  const body = h('div', null, h('span', { class: 'muted' }, 'Loading…'));
  clear(root).append(h('section', { class: 'panel' },
    h('h1', null, metric ? 'Exemplar coverage: ' : 'Exemplar coverage', metric ? h('span', { class: 'mono' }, metric) : null),
    metric ? h('p', null, h('button', { type: 'button', class: 'linkish', onclick: () => navigate('/exemplars') }, '← all metrics')) : null,
    body));

  api.coverage(metric).then((d) => {
    clear(body);
    const s = d.store ?? {};
    body.append(h('dl', { class: 'store' },
      h('dt', null, 'Budget'), h('dd', null, s.maxExemplars ?? '–'),
      h('dt', null, 'In memory'), h('dd', null, s.inMemory ?? '–'),
      h('dt', null, 'On disk'), h('dd', null, s.onDisk ?? '–'),
      h('dt', null, 'Retention'), h('dd', null, s.retentionSeconds ? formatDuration(s.retentionSeconds) : '–')));
    const metrics = d.metrics ?? [];
    if (!metrics.length) { body.append(h('p', { class: 'muted' }, 'No metric has exemplars yet.')); return; }
    const rows = metrics.map((m) => {
      const open = () => navigate(`/exemplars?metric=${encodeURIComponent(m.metric)}`);
      const graph = () => navigate(`/graph?expr=${encodeURIComponent(m.metric)}`);
      return h('tr', { class: m.seriesWithoutExemplars ? 'partial' : '' },
        h('td', { class: 'mono' }, metric ? m.metric : h('button', { type: 'button', class: 'linkish', onclick: open }, m.metric)),
        h('td', { class: 'num' }, m.seriesWithExemplars),
        h('td', { class: 'num' }, m.seriesWithoutExemplars),
        h('td', { class: 'num' }, m.exemplars),
        h('td', null, when(m.oldest)), h('td', null, when(m.newest)),
        h('td', null, h('button', { type: 'button', class: 'linkish', onclick: graph }, 'graph')));
    });
    body.append(h('table', { class: 'grid' },
      h('thead', null, h('tr', null, ['Metric', 'Series with', 'Series without', 'Exemplars', 'Oldest', 'Newest', ''].map((c) => h('th', null, c)))),
      h('tbody', null, rows)));
    for (const m of metrics) {
      if (!m.series) continue;
      body.append(h('h2', null, 'Series'), h('table', { class: 'grid' },
        h('thead', null, h('tr', null, ['Series', 'Exemplars', 'Oldest', 'Newest', 'Why none'].map((c) => h('th', null, c)))),
        h('tbody', null, m.series.map((sr) => h('tr', { class: sr.exemplars ? '' : 'without' },
          h('td', { class: 'mono' }, formatSeries(sr.labels ?? {})),
          h('td', { class: 'num' }, sr.exemplars),
          h('td', null, when(sr.oldest)), h('td', null, when(sr.newest)),
          h('td', null, sr.reason ?? ''))))));
    }
  }).catch((e) => {
    clear(body).append(notice(e.status === 404 ? 'warning' : 'error',
      e.status === 404 ? 'This Diamond has no exemplar-coverage endpoint (/api/diamond/v1/exemplars/coverage answered 404).' : e.message));
  });
}
