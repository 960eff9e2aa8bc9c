// OTLP/HTTP JSON trace export (the encoding the OpenTelemetry collector and SDKs send with
// Content-Type application/json): trace and span IDs as hex, times as nanosecond strings.

const attr = (k, v) => ({
  key: k,
  value: typeof v === 'number' ? (Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v })
    : typeof v === 'boolean' ? { boolValue: v } : { stringValue: String(v) },
});

/**
 * spans: [{service, traceId, spanId, parentSpanId?, name, startMs, durationMs, attributes?, error?}]
 * Returns the HTTP status of POST /v1/traces.
 */
export async function exportTraces(base, spans) {
  const byService = new Map();
  for (const s of spans) {
    if (!byService.has(s.service)) byService.set(s.service, []);
    byService.get(s.service).push(s);
  }
  const body = {
    resourceSpans: [...byService.entries()].map(([service, ss]) => ({
      resource: { attributes: [attr('service.name', service), attr('host.name', 'test-host')] },
      scopeSpans: [{
        scope: { name: 'diamond-browser-tests' },
        spans: ss.map((s) => ({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId ?? '',
          name: s.name,
          kind: 2,
          startTimeUnixNano: String(BigInt(Math.round(s.startMs * 1000)) * 1000n),
          endTimeUnixNano: String(BigInt(Math.round((s.startMs + s.durationMs) * 1000)) * 1000n),
          attributes: Object.entries(s.attributes ?? {}).map(([k, v]) => attr(k, v)),
          status: s.error ? { code: 2, message: s.error } : { code: 0 },
        })),
      }],
    })),
  };
  const res = await fetch(`${base}/v1/traces`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}
