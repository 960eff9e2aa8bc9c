// Time ranges, steps and formatting for the graph page.

const UNITS = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };

/** Seconds in a Prometheus duration ("90s", "1h30m", "2d"), or null. */
export function parseDuration(s) {
  if (typeof s !== 'string') return null;
  const t = s.trim();
  if (t === '') return null;
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const re = /(\d+)(ms|s|m|h|d|w|y)/gy;
  let total = 0;
  let m;
  let pos = 0;
  while ((m = re.exec(t)) !== null) {
    total += Number(m[1]) * UNITS[m[2]];
    pos = re.lastIndex;
  }
  return pos === t.length && total > 0 ? total : null;
}

/** "1h30m" for 5400 seconds. */
export function formatDuration(sec) {
  let s = Math.round(sec * 1000) / 1000;
  if (s <= 0) return '0s';
  let out = '';
  for (const [u, n] of [['w', 604800], ['d', 86400], ['h', 3600], ['m', 60], ['s', 1]]) {
    if (s >= n) {
      const k = Math.floor(s / n);
      out += `${k}${u}`;
      s -= k * n;
    }
  }
  if (s > 0) out += `${Math.round(s * 1000)}ms`;
  return out;
}

/**
 * A time given as Unix seconds, RFC 3339 (or what a datetime-local input gives, read as UTC),
 * "now", or "now-1h". Returns Unix seconds or null.
 */
export function parseTime(s, now = Date.now() / 1000) {
  if (s === undefined || s === null) return null;
  const t = String(s).trim();
  if (t === '' || t === 'now') return now;
  const rel = /^now\s*-\s*(.+)$/.exec(t);
  if (rel) {
    const d = parseDuration(rel[1]);
    return d === null ? null : now - d;
  }
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  // A datetime-local value has no zone; the picker shows UTC, so read it as UTC.
  const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(t) ? `${t}Z` : t;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms / 1000;
}

/**
 * The default step for a range, as Prometheus's own UI picks it: the range divided into 250 points,
 * in whole seconds, at least one second.
 */
export function defaultStep(rangeSeconds) {
  return Math.max(Math.floor(rangeSeconds / 250), 1);
}

/** "2026-12-04 13:12:27.123 UTC". */
export function formatTime(sec) {
  if (!Number.isFinite(sec)) return String(sec);
  const d = new Date(sec * 1000);
  return `${d.toISOString().replace('T', ' ').replace('Z', '')} UTC`;
}

/** The value of a datetime-local input for a Unix time, in UTC. */
export function toInputValue(sec) {
  return new Date(Math.round(sec) * 1000).toISOString().slice(0, 19);
}

/** "3.2s ago", "5m ago". */
export function ago(sec, now = Date.now() / 1000) {
  const d = now - sec;
  if (!Number.isFinite(d)) return '';
  if (d < 0) return 'in the future';
  if (d < 1) return `${Math.round(d * 1000)}ms ago`;
  if (d < 120) return `${d.toFixed(1)}s ago`;
  return `${formatDuration(Math.round(d))} ago`;
}

/** A duration in microseconds as Jaeger's UI prints it: 850µs, 12.3ms, 1.52s. */
export function formatMicros(us) {
  if (us < 1000) return `${Math.round(us)}µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 2 : 1)}ms`;
  return `${(us / 1e6).toFixed(2)}s`;
}
