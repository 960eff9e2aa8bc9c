// The graph page: PromQL box with completion, time range (relative or absolute), step, exemplars
// toggle; the range query drawn with a legend; a diamond at every exemplar; hover for its labels,
// click for its trace. The page state lives in the URL (/graph?expr=…&range=1h&end=…&step=…).

import { h, add, clear, formatSeries, labelTable, notice, openExternal, safeUrl, isInternal } from './dom.js';
import * as api from './api.js';
import { attach } from './complete.js';
import { createChart, seriesColor, drawDiamond } from './chart.js';
import { parseDuration, formatDuration, parseTime, defaultStep, formatTime, toInputValue } from './time.js';

const RANGES = ['5m', '15m', '30m', '1h', '3h', '6h', '12h', '1d', '2d', '1w', '2w'];
const STATUS_TEXT = {
  found: 'trace found',
  unknown: 'trace not checked',
  missing: 'dangling link: trace not found',
  unparsable: 'trace label is not a trace ID',
  none: 'no trace label',
};
const LINK_TEXT = {
  found: 'holds the trace',
  missing: 'does not hold it (dangling)',
  unknown: 'not checked',
  unchecked: 'link only, never checked',
};
const UNMATCHED_COLOR = '#555555';

/** The page's state from the URL. */
function readState(search) {
  const p = new URLSearchParams(search);
  return {
    expr: p.get('expr') ?? '',
    range: p.get('range') ?? '1h',
    start: p.get('start') ?? '',
    end: p.get('end') ?? '',
    step: p.get('step') ?? '',
    exemplars: p.get('exemplars') !== '0',
  };
}

function writeState(st) {
  const p = new URLSearchParams();
  if (st.expr) p.set('expr', st.expr);
  if (st.start) p.set('start', st.start); else p.set('range', st.range);
  if (st.end) p.set('end', st.end);
  if (st.step) p.set('step', st.step);
  if (!st.exemplars) p.set('exemplars', '0');
  return `/graph?${p}`;
}

/** [start, end, step] in seconds for the state, or an error message. */
export function resolveRange(st, now = Date.now() / 1000) {
  const end = st.end ? parseTime(st.end, now) : now;
  if (end === null) return { error: `cannot read end time ${JSON.stringify(st.end)}` };
  let start;
  if (st.start) {
    start = parseTime(st.start, now);
    if (start === null) return { error: `cannot read start time ${JSON.stringify(st.start)}` };
  } else {
    const r = parseDuration(st.range);
    if (r === null) return { error: `cannot read range ${JSON.stringify(st.range)}` };
    start = end - r;
  }
  if (!(start < end)) return { error: 'the start of the range must be before its end' };
  let step = defaultStep(end - start);
  if (st.step) {
    const s = parseDuration(st.step);
    if (s === null) return { error: `cannot read step ${JSON.stringify(st.step)}` };
    step = s;
  }
  return { start, end, step };
}

/** Finds the result series an exemplar belongs to: the one whose labels all agree with the exemplar's series. */
function matchSeries(result, seriesLabels) {
  let best = -1;
  let bestN = -1;
  result.forEach((r, i) => {
    const m = r.metric;
    let n = 0;
    for (const k of Object.keys(m)) {
      if (seriesLabels[k] !== m[k]) return;
      n++;
    }
    if (n > bestN) { best = i; bestN = n; }
  });
  return best;
}

function parseValue(s) {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  return Number(s);
}

export function graphPage(root, navigate) {
  let st = readState(location.search);
  let chart = null;
  let abort = null;

  const input = h('textarea', {
    class: 'expr', rows: 1, spellcheck: 'false', autocomplete: 'off', 'aria-label': 'PromQL expression',
    placeholder: 'Expression (press Enter to run, Ctrl+Space to complete)',
  });
  input.value = st.expr;
  const runBtn = h('button', { class: 'primary', type: 'button', onclick: () => run(true) }, 'Execute');

  const rangeSel = h('select', { 'aria-label': 'Range', class: 'range' },
    RANGES.map((r) => h('option', { value: r }, `Last ${r}`)), h('option', { value: 'custom' }, 'Absolute…'));
  const endInput = h('input', { type: 'datetime-local', step: '1', 'aria-label': 'End (UTC)', title: 'End of the range (UTC); empty means now' });
  const startInput = h('input', { type: 'datetime-local', step: '1', 'aria-label': 'Start (UTC)', title: 'Start of the range (UTC)' });
  const stepInput = h('input', { type: 'text', class: 'step', 'aria-label': 'Step', placeholder: 'auto step', size: 9 });
  const exToggle = h('input', { type: 'checkbox', id: 'exemplars-toggle' });
  exToggle.checked = st.exemplars;
  const startBox = h('label', { class: 'start-box' }, 'from ', startInput);

  function syncControls() {
    input.value = st.expr;
    if (st.start) {
      rangeSel.value = 'custom';
      const s = parseTime(st.start);
      startInput.value = s === null ? '' : toInputValue(s);
    } else {
      if (!RANGES.includes(st.range)) rangeSel.appendChild(h('option', { value: st.range }, `Last ${st.range}`));
      rangeSel.value = st.range;
    }
    startBox.hidden = !st.start;
    const e = st.end ? parseTime(st.end) : null;
    endInput.value = e === null ? '' : toInputValue(e);
    stepInput.value = st.step;
    exToggle.checked = st.exemplars;
  }

  rangeSel.addEventListener('change', () => {
    if (rangeSel.value === 'custom') {
      const r = resolveRange(st);
      const end = r.error ? Date.now() / 1000 : r.end;
      const start = r.error ? end - 3600 : r.start;
      st = { ...st, start: String(Math.round(start)), end: String(Math.round(end)) };
    } else {
      st = { ...st, start: '', range: rangeSel.value };
    }
    syncControls();
    run(true);
  });
  startInput.addEventListener('change', () => { if (startInput.value) { st = { ...st, start: startInput.value }; run(true); } });
  endInput.addEventListener('change', () => { st = { ...st, end: endInput.value }; run(true); });
  stepInput.addEventListener('change', () => { st = { ...st, step: stepInput.value.trim() }; run(true); });
  exToggle.addEventListener('change', () => {
    st = { ...st, exemplars: exToggle.checked };
    history.replaceState(null, '', writeState(st));
    if (chart && !exToggle.checked) chart.setShowExemplars(false); else run(false);
  });

  const back = h('button', { type: 'button', title: 'Earlier', onclick: () => shift(-1) }, '◀');
  const fwd = h('button', { type: 'button', title: 'Later', onclick: () => shift(1) }, '▶');
  const nowBtn = h('button', { type: 'button', title: 'End now', onclick: () => { st = { ...st, end: '' }; if (st.start) { const r = resolveRange(st); st.start = ''; st.range = formatDuration(r.end - r.start); } syncControls(); run(true); } }, 'now');
  function shift(dir) {
    const r = resolveRange(st);
    if (r.error) return;
    const d = (r.end - r.start) / 2;
    st = { ...st, end: String(Math.round(r.end + dir * d)) };
    if (st.start) st.start = String(Math.round(r.start + dir * d));
    syncControls();
    run(true);
  }

  const status = h('div', { class: 'query-status', 'aria-live': 'polite' });
  const chartBox = h('div', { class: 'chart', id: 'graph' });
  const tooltip = h('div', { class: 'tooltip', role: 'tooltip', hidden: true });
  const chartWrap = h('div', { class: 'chart-wrap' }, chartBox, tooltip);
  const exInfo = h('div', { class: 'exemplar-info' });
  const legend = h('div', { class: 'legend' });

  clear(root).append(
    h('section', { class: 'panel' },
      h('div', { class: 'expr-row' }, h('div', { class: 'expr-box' }, input), runBtn),
      h('div', { class: 'controls' },
        h('label', null, 'Range ', rangeSel), startBox,
        h('label', null, st.start ? 'to ' : 'until ', endInput), back, fwd, nowBtn,
        h('label', null, 'Step ', stepInput),
        h('label', { class: 'toggle' }, exToggle, ' Show exemplars')),
      status, chartWrap, exInfo, legend),
  );
  attach(input, () => run(true));
  syncControls();

  let lastExemplars = { unmatched: 0, error: null };

  let lastInfo = '';
  function renderExemplarInfo() {
    const sig = JSON.stringify([st.exemplars, chart?.stats(), lastExemplars]);
    if (sig === lastInfo) return;
    lastInfo = sig;
    clear(exInfo);
    if (!st.exemplars) { exInfo.append(h('span', { class: 'muted' }, 'Exemplars hidden.')); return; }
    const s = chart?.stats();
    const parts = [];
    if (lastExemplars.error) parts.push(notice('warning', `Exemplars could not be loaded: ${lastExemplars.error}`));
    if (s) {
      let text = `${s.total} exemplar${s.total === 1 ? '' : 's'}`;
      if (s.total) text += `, ${s.drawn} diamond${s.drawn === 1 ? '' : 's'} drawn`;
      if (s.thinned) text += ` (${s.thinned} overlapping thinned; the highest and lowest of every pixel column are always drawn)`;
      if (s.hiddenSeries) text += `, ${s.hiddenSeries} on hidden series`;
      if (s.offscreen) text += `, ${s.offscreen} outside the plot`;
      parts.push(h('span', { class: 'ex-count' }, `${text}.`));
    }
    if (lastExemplars.unmatched) parts.push(h('span', { class: 'muted' }, ` ${lastExemplars.unmatched} belong to series not in the result (grey).`));
    const key = h('span', { class: 'diamond-key' }, Object.keys(STATUS_TEXT).map((k) => {
      const c = h('canvas', { width: 18, height: 18, class: 'key-diamond' });
      const ctx = c.getContext('2d');
      drawDiamond(ctx, 9, 9, k, '#1f77b4', 1);
      return h('span', { class: 'key-item', dataset: { status: k } }, c, STATUS_TEXT[k]);
    }));
    exInfo.append(...parts, key);
  }

  function showTooltip(ex, pos) {
    if (!ex) { tooltip.hidden = true; return; }
    clear(tooltip);
    const t = ex.trace ?? { status: 'none', links: [] };
    const primary = primaryLink(t);
    add(tooltip,
      h('div', { class: 'tt-head' },
        h('span', { class: 'tt-swatch', dataset: { color: ex.color } }),
        h('span', { class: 'tt-series' }, formatSeries(ex.seriesLabels))),
      h('div', { class: 'tt-row' }, h('span', { class: 'tt-k' }, 'value'), h('span', { class: 'tt-v tt-value' }, ex.rawValue)),
      h('div', { class: 'tt-row' }, h('span', { class: 'tt-k' }, 'time'), h('span', { class: 'tt-v tt-time' }, formatTime(ex.ts))),
      h('div', { class: 'tt-sub' }, 'Exemplar labels'),
      labelTable(ex.labels, 'labels tt-labels'),
      h('div', { class: `tt-trace status-${t.status}` },
        h('span', { class: 'tt-status' }, STATUS_TEXT[t.status] ?? t.status),
        t.traceId ? h('span', { class: 'mono' }, ` ${t.traceId}`) : null,
        t.status === 'unparsable' && t.error ? h('div', { class: 'muted' }, t.error) : null),
      (t.links ?? []).length ? h('ul', { class: 'tt-dests' }, t.links.map((l) => h('li', { class: `link-${l.status ?? 'unknown'}`, dataset: { status: l.status ?? 'unknown' } },
        h('span', { class: 'tt-dest' }, l.internal ? `${l.name} (this server)` : `${l.name} ↗`), ' ',
        h('span', { class: 'tt-link-status' }, LINK_TEXT[l.status] ?? l.status ?? 'unknown')))) : null,
      (t.links ?? []).length ? h('div', { class: 'tt-links' }, 'Click to open ',
        primary ? (isInternal(safeUrl(primary.url)) ? 'the trace view' : `${primary.name} in a new tab`) : 'nothing (no safe link)') : null,
    );
    // The swatch's colour comes from our palette, not from data; set through CSSOM (CSP-safe).
    const sw = tooltip.querySelector('.tt-swatch');
    if (sw) sw.style.background = ex.color;
    tooltip.hidden = false;
    const wrapRect = chartWrap.getBoundingClientRect();
    let x = pos.left - wrapRect.left + pos.x + 14;
    let y = pos.top - wrapRect.top + pos.y + 14;
    const tw = tooltip.offsetWidth;
    const th = tooltip.offsetHeight;
    if (x + tw > wrapRect.width) x = Math.max(0, x - tw - 28);
    if (y + th > wrapRect.height + 200) y = Math.max(0, y - th - 28);
    tooltip.style.left = `${x}px`;
    tooltip.style.top = `${y}px`;
  }

  // Which link a click opens: one whose store holds the trace (this server's trace view first), else
  // this server's trace view (it says why the trace is not there), else the first safe external link.
  function primaryLink(t) {
    const links = (t.links ?? []).filter((l) => safeUrl(l.url) !== null);
    const internal = (l) => l.internal && isInternal(safeUrl(l.url));
    return links.find((l) => l.status === 'found' && internal(l)) ?? links.find((l) => l.status === 'found')
      ?? links.find(internal) ?? links[0] ?? null;
  }

  function openTrace(ex) {
    const t = ex.trace;
    const l = t ? primaryLink(t) : null;
    if (!l) return;
    const url = safeUrl(l.url);
    if (isInternal(url)) {
      const target = new URL(url, location.origin);
      if (t.spanId) target.searchParams.set('span', t.spanId);
      target.searchParams.set('from', location.pathname + location.search);
      for (const o of t.links) if (!o.internal && safeUrl(o.url)) target.searchParams.append('ext', JSON.stringify({ name: o.name, url: o.url, status: o.status ?? 'unknown' }));
      navigate(target.pathname + target.search);
    } else {
      openExternal(url);
    }
  }

  function renderLegend(result, counts) {
    clear(legend);
    if (!result.length) return;
    result.forEach((r, i) => {
      const sw = h('span', { class: 'swatch' });
      sw.style.background = seriesColor(i);
      const n = counts.get(i) ?? 0;
      const item = h('button', { type: 'button', class: 'legend-item', 'aria-pressed': 'true', title: 'Click to hide or show' },
        sw, h('span', { class: 'legend-label' }, formatSeries(r.metric)),
        n ? h('span', { class: 'legend-ex', title: 'exemplars' }, `◆ ${n}`) : null);
      item.addEventListener('click', () => {
        const on = item.getAttribute('aria-pressed') !== 'true';
        item.setAttribute('aria-pressed', String(on));
        chart?.setSeriesVisible(i, on);
        renderExemplarInfo();
      });
      legend.appendChild(item);
    });
  }

  async function run(push) {
    st = { ...st, expr: input.value.trim() };
    const url = writeState(st);
    if (push && url !== location.pathname + location.search) history.pushState(null, '', url);
    else history.replaceState(null, '', url);
    if (abort) abort.abort();
    abort = new AbortController();
    const signal = abort.signal;
    tooltip.hidden = true;
    if (!st.expr) {
      chart?.destroy(); chart = null;
      clear(status); clear(legend); clear(exInfo);
      status.append(h('span', { class: 'muted' }, 'Enter an expression, e.g. '),
        h('code', null, 'rate(prometheus_http_requests_total[5m])'));
      return;
    }
    const r = resolveRange(st);
    clear(status);
    if (r.error) { status.append(notice('error', r.error)); return; }
    status.append(h('span', { class: 'muted' }, 'Loading…'));
    const t0 = performance.now();
    const exP = st.exemplars
      ? api.exemplarsWithLinks(st.expr, r.start, r.end, signal).catch((e) => ({ error: e }))
      : Promise.resolve({ data: [] });
    let res;
    try {
      res = await api.queryRange(st.expr, r.start, r.end, r.step, signal);
    } catch (e) {
      if (e.name === 'AbortError' || signal.aborted) return;
      clear(status).append(notice('error', e.message));
      chart?.destroy(); chart = null; clear(legend); clear(exInfo);
      return;
    }
    const exRes = await exP;
    if (signal.aborted) return;
    const result = res.data?.resultType === 'matrix' ? res.data.result
      : res.data?.resultType === 'vector' ? res.data.result.map((x) => ({ metric: x.metric, values: [x.value] }))
        : res.data?.resultType === 'scalar' ? [{ metric: {}, values: [res.data.result] }] : [];

    // Align every series on the query's steps.
    const n = Math.floor((r.end - r.start) / r.step + 1e-9) + 1;
    const xs = new Array(n);
    for (let i = 0; i < n; i++) xs[i] = r.start + i * r.step;
    const series = result.map((s, i) => {
      const vals = new Array(n).fill(null);
      for (const [t, v] of s.values ?? []) {
        const idx = Math.round((t - r.start) / r.step);
        const x = parseValue(v);
        if (idx >= 0 && idx < n && Number.isFinite(x)) vals[idx] = x;
      }
      return { labels: s.metric, color: seriesColor(i), values: vals };
    });

    const exemplars = [];
    const counts = new Map();
    let unmatched = 0;
    if (exRes.error) {
      lastExemplars = { error: exRes.error.message, unmatched: 0 };
    } else {
      for (const s of exRes.data ?? []) {
        const g = matchSeries(result, s.seriesLabels);
        for (const ex of s.exemplars) {
          const v = parseValue(ex.value);
          exemplars.push({
            ts: ex.timestamp, value: v, rawValue: ex.value, labels: ex.labels, seriesLabels: s.seriesLabels,
            trace: ex.trace ?? null, group: g, color: g >= 0 ? seriesColor(g) : UNMATCHED_COLOR,
          });
          if (g >= 0) counts.set(g, (counts.get(g) ?? 0) + 1); else unmatched++;
        }
      }
      lastExemplars = { error: null, unmatched };
    }

    chart?.destroy();
    clear(chartBox);
    chart = createChart(chartBox, {
      series, xs, exemplars, start: r.start, end: r.end, showExemplars: st.exemplars,
      onHover: showTooltip, onClick: openTrace, onDraw: () => renderExemplarInfo(),
      onZoom: (a, b) => { st = { ...st, start: String(Math.round(a)), end: String(Math.round(b)) }; syncControls(); run(true); },
    });
    const ms = performance.now() - t0;
    clear(status).append(h('span', { class: 'muted' },
      `${result.length} series, step ${formatDuration(r.step)}, ${formatTime(r.start)} – ${formatTime(r.end)}, ${Math.round(ms)} ms`));
    for (const w of [...(res.warnings ?? []), ...(exRes.warnings ?? [])]) status.append(notice('warning', w));
    for (const w of res.infos ?? []) status.append(notice('info', w));
    renderLegend(result, counts);
    renderExemplarInfo();
    performance.mark('diamond:graph-rendered');
    chartBox.dataset.rendered = String(Date.now());
    chartBox.dispatchEvent(new CustomEvent('rendered', { detail: { ms } }));
  }

  run(false);
  return () => { chart?.destroy(); abort?.abort(); };
}
