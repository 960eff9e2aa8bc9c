// Used only when the server has no links endpoint: finds the trace ID in an exemplar's labels the way
// Diamond's endpoint does for the common formats (hex of any case, short IDs, 0x, dashed UUID), so the
// UI still opens traces. The server's normalisation (diamond_model::traceid) is the real one.

const TRACE_LABELS = ['trace_id', 'traceID', 'traceId', 'traceid', 'TraceID', 'trace-id'];
const SPAN_LABELS = ['span_id', 'spanID', 'spanId', 'spanid'];

function normalise(raw, width) {
  let s = raw.trim().toLowerCase();
  if (s.startsWith('0x')) s = s.slice(2);
  if (width === 32 && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(s)) s = s.replaceAll('-', '');
  if (!/^[0-9a-f]+$/.test(s) || s.length > width) return null;
  s = s.padStart(width, '0');
  return /^0+$/.test(s) ? null : s;
}

export function fallbackTrace(labels) {
  const label = TRACE_LABELS.find((k) => k in labels) ?? null;
  const spanLabel = SPAN_LABELS.find((k) => k in labels);
  const spanId = spanLabel ? normalise(labels[spanLabel], 16) : null;
  if (label === null) {
    return { label: null, raw: null, traceId: null, spanId, status: 'none', error: null, links: [] };
  }
  const raw = labels[label];
  const traceId = normalise(raw, 32);
  if (traceId === null) {
    return { label, raw, traceId: null, spanId, status: 'unparsable', error: 'not a trace ID in a format this page knows', links: [] };
  }
  return {
    label, raw, traceId, spanId, status: 'unknown', error: null,
    links: [{ name: 'diamond', url: `/trace/${traceId}`, internal: true }],
  };
}
