// Completion in the PromQL box: metric names, functions and keywords where an identifier is typed;
// label names inside `{...}` (and in by/without/on/ignoring lists); label values after a matcher
// operator. Candidates come from Prometheus's API (labels, label/<name>/values, with match[] for the
// metric at hand) and are cached per page load.

import { h, clear } from './dom.js';
import * as api from './api.js';

const FUNCTIONS = ['abs', 'absent', 'absent_over_time', 'acos', 'acosh', 'asin', 'asinh', 'atan', 'atanh',
  'avg_over_time', 'ceil', 'changes', 'clamp', 'clamp_max', 'clamp_min', 'cos', 'cosh', 'count_over_time',
  'day_of_month', 'day_of_week', 'day_of_year', 'days_in_month', 'deg', 'delta', 'deriv',
  'double_exponential_smoothing', 'exp', 'floor', 'histogram_avg', 'histogram_count', 'histogram_fraction',
  'histogram_quantile', 'histogram_stddev', 'histogram_stdvar', 'histogram_sum', 'hour', 'idelta',
  'increase', 'irate', 'label_join', 'label_replace', 'last_over_time', 'ln', 'log10', 'log2',
  'mad_over_time', 'max_over_time', 'min_over_time', 'minute', 'month', 'pi', 'predict_linear',
  'present_over_time', 'quantile_over_time', 'rad', 'rate', 'resets', 'round', 'scalar', 'sgn', 'sin',
  'sinh', 'sort', 'sort_by_label', 'sort_by_label_desc', 'sort_desc', 'sqrt', 'stddev_over_time',
  'stdvar_over_time', 'sum_over_time', 'tan', 'tanh', 'time', 'timestamp', 'vector', 'year'];
const AGGREGATIONS = ['avg', 'bottomk', 'count', 'count_values', 'group', 'max', 'min', 'quantile',
  'stddev', 'stdvar', 'sum', 'topk'];
const KEYWORDS = ['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool',
  'and', 'or', 'unless'];

const cache = new Map();
function cached(key, f) {
  if (!cache.has(key)) cache.set(key, f().catch((e) => { cache.delete(key); throw e; }));
  return cache.get(key);
}

/**
 * What is being typed at `pos` in `text`: {kind: 'metric'|'label'|'value', prefix, from, metric,
 * label, quote}. `from` is where the replaced word starts. Exported for tests.
 */
export function context(text, pos) {
  const before = text.slice(0, pos);
  // Inside an unclosed brace?
  let depth = 0;
  let open = -1;
  let inStr = null;
  for (let i = 0; i < before.length; i++) {
    const c = before[i];
    if (inStr) {
      if (c === '\\') i++;
      else if (c === inStr) inStr = null;
    } else if (c === '"' || c === "'" || c === '`') inStr = c;
    else if (c === '{') { depth++; open = i; } else if (c === '}') { depth = Math.max(0, depth - 1); }
  }
  if (depth > 0 && open >= 0) {
    const metricMatch = /([a-zA-Z_:][a-zA-Z0-9_:]*)\s*$/.exec(before.slice(0, open));
    const metric = metricMatch ? metricMatch[1] : null;
    const inside = before.slice(open + 1);
    const val = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(["'`]?)((?:[^"'`\\]|\\.)*)$/.exec(inside);
    if (val && (val[3] !== '' || val[4] === '')) {
      return { kind: 'value', label: val[1], metric, quote: val[3] || '"', prefix: val[4], from: pos - val[4].length, opened: val[3] !== '' };
    }
    const name = /(?:^|[{,\s])([a-zA-Z_][a-zA-Z0-9_]*)?$/.exec(inside);
    const prefix = name?.[1] ?? '';
    return { kind: 'label', metric, prefix, from: pos - prefix.length };
  }
  const grouping = /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)$/.exec(before);
  if (grouping) {
    const w = /([a-zA-Z_][a-zA-Z0-9_]*)?$/.exec(grouping[2]);
    const prefix = w?.[1] ?? '';
    return { kind: 'label', metric: null, prefix, from: pos - prefix.length };
  }
  const word = /([a-zA-Z_:][a-zA-Z0-9_:]*)$/.exec(before);
  const prefix = word ? word[1] : '';
  return { kind: 'metric', prefix, from: pos - prefix.length };
}

async function candidates(ctx) {
  if (ctx.kind === 'metric') {
    const metrics = await cached('metrics', api.metricNames);
    const out = [
      ...metrics.map((m) => ({ text: m, kind: 'metric' })),
      ...FUNCTIONS.map((f) => ({ text: f, kind: 'function', suffix: '(' })),
      ...AGGREGATIONS.map((f) => ({ text: f, kind: 'aggregation' })),
      ...KEYWORDS.map((f) => ({ text: f, kind: 'keyword' })),
    ];
    return out;
  }
  if (ctx.kind === 'label') {
    const names = await cached(`labels:${ctx.metric ?? ''}`, () => api.labelNames(ctx.metric));
    return names.filter((n) => n !== '__name__' || !ctx.metric).map((n) => ({ text: n, kind: 'label' }));
  }
  const values = await cached(`values:${ctx.label}:${ctx.metric ?? ''}`, () => api.labelValues(ctx.label, ctx.metric));
  return values.map((v) => ({ text: v, kind: 'value' }));
}

function escapeValue(v, quote) {
  return v.replaceAll('\\', '\\\\').replaceAll(quote, `\\${quote}`).replaceAll('\n', '\\n');
}

/** Attaches completion to a textarea. `onRun` is called on Enter when no list is open. */
export function attach(input, onRun) {
  const list = h('ul', { class: 'completions', role: 'listbox', hidden: true });
  input.after(list);
  let items = [];
  let active = 0;
  let ctx = null;
  let seq = 0;

  function close() {
    list.hidden = true;
    items = [];
  }

  function render() {
    clear(list);
    items.forEach((it, i) => {
      const li = h('li', {
        role: 'option', class: i === active ? 'active' : '', 'aria-selected': String(i === active),
        onmousedown: (e) => { e.preventDefault(); active = i; accept(); },
      }, h('span', { class: 'c-text' }, it.text), h('span', { class: `c-kind c-${it.kind}` }, it.kind));
      list.appendChild(li);
    });
    list.hidden = items.length === 0;
    list.children[active]?.scrollIntoView?.({ block: 'nearest' });
  }

  async function update() {
    const my = ++seq;
    const c = context(input.value, input.selectionStart);
    if (c.kind === 'metric' && c.prefix === '') { close(); return; }
    let all;
    try { all = await candidates(c); } catch { close(); return; }
    if (my !== seq) return;
    const p = c.prefix.toLowerCase();
    const starts = all.filter((x) => x.text.toLowerCase().startsWith(p) && x.text !== c.prefix);
    const contains = p ? all.filter((x) => !x.text.toLowerCase().startsWith(p) && x.text.toLowerCase().includes(p)) : [];
    items = [...starts, ...contains].slice(0, 50);
    ctx = c;
    active = 0;
    render();
  }

  function accept() {
    const it = items[active];
    if (!it || !ctx) return;
    const end = input.selectionStart;
    let text = it.text;
    if (ctx.kind === 'value') {
      text = escapeValue(text, ctx.quote);
      if (!ctx.opened) text = ctx.quote + text;
      const after = input.value.slice(end);
      if (!after.startsWith(ctx.quote)) text += ctx.quote;
    } else if (it.suffix && !input.value.slice(end).startsWith(it.suffix)) {
      text += it.suffix;
    }
    const from = ctx.kind === 'value' && !ctx.opened ? end : ctx.from;
    input.setRangeText(text, from, end, 'end');
    close();
    input.dispatchEvent(new Event('input', { bubbles: true }));
    input.focus();
  }

  input.addEventListener('input', () => { update(); });
  input.addEventListener('blur', () => setTimeout(close, 100));
  input.addEventListener('keydown', (e) => {
    const open = !list.hidden && items.length > 0;
    if (open && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
      e.preventDefault();
      active = (active + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length;
      render();
    } else if (open && (e.key === 'Tab' || e.key === 'Enter')) {
      e.preventDefault();
      accept();
    } else if (open && e.key === 'Escape') {
      e.preventDefault();
      close();
    } else if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      close();
      onRun();
    } else if (e.key === ' ' && e.ctrlKey) {
      e.preventDefault();
      update();
    }
  });
}
