// Clients of Prometheus's API and of Diamond's own endpoints (docs/api/diamond.md). Every call
// resolves to the envelope's data or throws an ApiError that says what went wrong.

export class ApiError extends Error {
  constructor(status, errorType, message) {
    super(message);
    this.status = status;
    this.errorType = errorType;
  }
}

async function call(path, params, init = {}) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) v.forEach((x) => qs.append(k, x));
    else qs.append(k, String(v));
  }
  const url = qs.toString() ? `${path}?${qs}` : path;
  let res;
  try {
    res = await fetch(url, { headers: { Accept: 'application/json' }, ...init });
  } catch (e) {
    throw new ApiError(0, 'network', `cannot reach Diamond: ${e.message}`);
  }
  if (res.status === 204) return { data: null, warnings: [], infos: [] };
  let body = null;
  try { body = await res.json(); } catch { /* not JSON: handled below */ }
  if (!res.ok || !body || body.status === 'error') {
    const msg = body?.error ?? body?.errors?.[0]?.msg ?? `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, body?.errorType ?? 'http', msg);
  }
  return { data: body.data, warnings: body.warnings ?? [], infos: body.infos ?? [] };
}

export const get = (path, params, init) => call(path, params, init);

export function queryRange(query, start, end, step, signal) {
  return call('/api/v1/query_range', { query, start, end, step }, { signal });
}

/** The query's exemplars, each with its normalised trace ID, links and link status (docs/api/diamond.md). */
export async function exemplarsWithLinks(query, start, end, signal) {
  const r = await call('/api/diamond/v1/exemplars/links', { query, start, end }, { signal });
  return { ...r, data: r.data ?? [] };
}

export async function metricNames() {
  return (await call('/api/v1/label/__name__/values')).data ?? [];
}

export async function labelNames(metric) {
  return (await call('/api/v1/labels', metric ? { 'match[]': metric } : {})).data ?? [];
}

export async function labelValues(name, metric) {
  return (await call(`/api/v1/label/${encodeURIComponent(name)}/values`, metric ? { 'match[]': metric } : {})).data ?? [];
}

export async function metadata() {
  return (await call('/api/v1/metadata')).data ?? {};
}

export async function targets() {
  return (await call('/api/v1/targets')).data ?? { activeTargets: [], droppedTargets: [] };
}

export async function coverage(metric) {
  return (await call('/api/diamond/v1/exemplars/coverage', metric ? { metric } : {})).data;
}

/** A trace in Jaeger's JSON shape, or null when the store answers that it does not hold it. */
export async function trace(id) {
  let res;
  try {
    res = await fetch(`/api/traces/${encodeURIComponent(id)}`, { headers: { Accept: 'application/json' } });
  } catch (e) {
    throw new ApiError(0, 'network', `cannot reach Diamond: ${e.message}`);
  }
  let body = null;
  try { body = await res.json(); } catch { /* handled below */ }
  if (res.status === 404 && body && Array.isArray(body.errors)) return null;
  if (res.status === 404) throw new ApiError(404, 'not_found', 'this Diamond has no trace store (GET /api/traces/<id> answered 404 without a body)');
  if (!res.ok || !body) throw new ApiError(res.status, 'http', body?.errors?.[0]?.msg ?? `${res.status} ${res.statusText}`);
  return body.data?.[0] ?? null;
}
