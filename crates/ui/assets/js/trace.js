// The trace view: a span waterfall of one trace from Diamond's own store (GET /api/traces/<id>,
// Jaeger's JSON shape), with service, operation, start and duration bars, and each span's tags,
// process tags and logs. Error spans are marked. The span an exemplar named (?span=) is highlighted.

import { h, clear, notice, link } from './dom.js';
import * as api from './api.js';
import { formatMicros, formatTime } from './time.js';

const SERVICE_COLORS = ['#1f77b4', '#2ca02c', '#9467bd', '#17becf', '#bcbd22', '#8c564b', '#e377c2', '#ff7f0e'];

const EXT_TEXT = { found: 'holds this trace', missing: 'does not hold this trace', unknown: 'not checked', unchecked: 'never checked' };

function tagValue(t) {
  if (t.value === null || t.value === undefined) return '';
  return typeof t.value === 'string' ? t.value : JSON.stringify(t.value);
}

/** Whether a span failed, as Jaeger's UI decides (error=true) or as OTLP says (status ERROR). */
export function isError(span) {
  return (span.tags ?? []).some((t) =>
    (t.key === 'error' && (t.value === true || t.value === 'true'))
    || (t.key === 'otel.status_code' && String(t.value).toUpperCase() === 'ERROR'));
}

/** Spans in tree order (depth first, children by start time) with their depth. */
export function treeOrder(spans) {
  const byId = new Map(spans.map((s) => [s.spanID, s]));
  const children = new Map();
  const roots = [];
  for (const s of spans) {
    const parent = (s.references ?? []).find((r) => r.refType === 'CHILD_OF' && byId.has(r.spanID))
      ?? (s.references ?? []).find((r) => byId.has(r.spanID));
    if (parent && parent.spanID !== s.spanID) {
      if (!children.has(parent.spanID)) children.set(parent.spanID, []);
      children.get(parent.spanID).push(s);
    } else roots.push(s);
  }
  const byStart = (a, b) => a.startTime - b.startTime;
  const out = [];
  const seen = new Set();
  const visit = (s, depth) => {
    if (seen.has(s.spanID)) return;
    seen.add(s.spanID);
    out.push({ span: s, depth });
    for (const c of (children.get(s.spanID) ?? []).sort(byStart)) visit(c, depth + 1);
  };
  roots.sort(byStart).forEach((r) => visit(r, 0));
  for (const s of spans) if (!seen.has(s.spanID)) visit(s, 0); // cycles: still shown
  return out;
}

function kv(list, cls) {
  if (!list?.length) return h('span', { class: 'muted' }, 'none');
  return h('table', { class: `labels ${cls}` }, h('tbody', null, list.map((t) =>
    h('tr', { class: t.key === 'error' || t.key === 'otel.status_code' || t.key === 'otel.status_description' ? 'error-tag' : '' },
      h('th', null, t.key), h('td', null, tagValue(t))))));
}

export function tracePage(root, navigate, id) {
  const params = new URLSearchParams(location.search);
  const focusSpan = params.get('span');
  const from = params.get('from');
  // The exemplar's external links, as the graph passed them: {name, url, status} in JSON (only parsed,
  // never evaluated; anything else is ignored).
  const ext = params.getAll('ext').map((e) => { try { return JSON.parse(e); } catch { return null; } })
    .filter((e) => e && typeof e.name === 'string' && typeof e.url === 'string');
  const body = h('div', null, h('span', { class: 'muted' }, 'Loading…'));
  const head = h('div', { class: 'trace-nav' },
    from ? h('button', { type: 'button', class: 'linkish', onclick: () => navigate(from.startsWith('/') && !from.startsWith('//') ? from : '/graph') }, '← back to the graph') : null,
    ext.length ? h('span', { class: 'ext-links' }, 'Also in: ', ext.map((e) => [
      link(e.url, `${e.name} ↗`, { class: `link-${String(e.status)}`, title: EXT_TEXT[e.status] ?? 'not checked' }),
      e.status === 'missing' ? h('span', { class: 'error-text small' }, ' (dangling: does not hold this trace)') : null, ' '])) : null);
  clear(root).append(h('section', { class: 'panel trace-page' },
    head, h('h1', null, 'Trace ', h('span', { class: 'mono trace-id' }, id)), body));

  api.trace(id).then((tr) => {
    clear(body);
    if (!tr) {
      body.append(notice('warning', 'Diamond\'s trace store does not hold this trace: the exemplar\'s link is dangling ',
        '(the trace was not sampled, has expired, or went to another backend).'));
      return;
    }
    render(tr);
  }).catch((e) => clear(body).append(notice('error', e.message)));

  function render(tr) {
    const spans = tr.spans ?? [];
    if (!spans.length) { body.append(notice('warning', 'The trace has no spans.')); return; }
    const procs = tr.processes ?? {};
    const services = [...new Set(spans.map((s) => procs[s.processID]?.serviceName ?? s.processID))].sort();
    const color = (svc) => SERVICE_COLORS[services.indexOf(svc) % SERVICE_COLORS.length];
    const t0 = Math.min(...spans.map((s) => s.startTime));
    const t1 = Math.max(...spans.map((s) => s.startTime + s.duration));
    const total = Math.max(t1 - t0, 1);
    const ordered = treeOrder(spans);
    const root0 = ordered[0].span;
    const errors = spans.filter(isError).length;

    body.append(h('dl', { class: 'trace-summary' },
      h('dt', null, 'Root'), h('dd', null, `${procs[root0.processID]?.serviceName ?? '?'}: ${root0.operationName}`),
      h('dt', null, 'Start'), h('dd', null, formatTime(t0 / 1e6)),
      h('dt', null, 'Duration'), h('dd', null, formatMicros(total)),
      h('dt', null, 'Services'), h('dd', null, String(services.length)),
      h('dt', null, 'Spans'), h('dd', null, String(spans.length)),
      h('dt', null, 'Errors'), h('dd', { class: errors ? 'error-text' : '' }, String(errors))));
    for (const w of tr.warnings ?? []) body.append(notice('warning', w));

    const ticks = h('div', { class: 'wf-ticks' }, [0, 0.25, 0.5, 0.75, 1].map((f) => {
      const t = h('span', { class: 'wf-tick' }, formatMicros(total * f));
      t.style.left = `${f * 100}%`;
      return t;
    }));
    const wf = h('div', { class: 'waterfall', role: 'tree' },
      h('div', { class: 'wf-row wf-header' }, h('div', { class: 'wf-name' }, 'Service: operation'), h('div', { class: 'wf-timeline' }, ticks)));
    for (const { span, depth } of ordered) {
      const svc = procs[span.processID]?.serviceName ?? span.processID;
      const err = isError(span);
      const bar = h('div', { class: 'wf-bar' }, h('span', { class: 'wf-dur' }, formatMicros(span.duration)));
      bar.style.left = `${((span.startTime - t0) / total) * 100}%`;
      bar.style.width = `${Math.max((span.duration / total) * 100, 0.2)}%`;
      bar.style.background = err ? '#d62728' : color(svc);
      const name = h('div', { class: 'wf-name' },
        h('span', { class: 'wf-svc' }, svc), h('span', { class: 'wf-op' }, span.operationName),
        err ? h('span', { class: 'badge badge-err' }, 'error') : null);
      name.style.paddingLeft = `${0.4 + depth * 1.1}em`;
      const details = h('div', { class: 'wf-details', hidden: true },
        h('div', { class: 'small mono' }, `span ${span.spanID} · start +${formatMicros(span.startTime - t0)} · duration ${formatMicros(span.duration)}`),
        h('h4', null, 'Tags'), kv(span.tags, 'span-tags'),
        h('h4', null, 'Process'), kv(procs[span.processID]?.tags, 'process-tags'),
        span.logs?.length ? [h('h4', null, 'Events'), span.logs.map((l) => h('div', { class: 'wf-log' },
          h('span', { class: 'small' }, `+${formatMicros(l.timestamp - t0)}`), kv(l.fields, 'log-fields')))] : null,
        (span.warnings ?? []).map((w) => notice('warning', w)));
      const row = h('div', {
        class: `wf-row span${err ? ' span-error' : ''}${span.spanID === focusSpan ? ' span-focus' : ''}`,
        role: 'treeitem', tabindex: 0, 'aria-expanded': 'false', dataset: { spanId: span.spanID },
      }, name, h('div', { class: 'wf-timeline' }, bar));
      const toggle = () => {
        details.hidden = !details.hidden;
        row.setAttribute('aria-expanded', String(!details.hidden));
      };
      row.addEventListener('click', toggle);
      row.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); toggle(); } });
      wf.append(row, details);
      if (span.spanID === focusSpan || err) { details.hidden = false; row.setAttribute('aria-expanded', 'true'); }
    }
    body.append(wf);
    root.querySelector('.span-focus')?.scrollIntoView?.({ block: 'center' });
  }
}
