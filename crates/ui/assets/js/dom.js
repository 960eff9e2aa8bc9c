// Safe DOM building. Every label value Diamond shows is user-controlled input, so nothing here ever
// parses HTML: elements are created with createElement, text goes in as text nodes, and only URLs
// that pass safeUrl become links. No module of the UI uses innerHTML, outerHTML, insertAdjacentHTML
// or document.write (a Rust test of the crate checks the sources for them).

/**
 * h('div', {class: 'x', onclick: fn}, 'text', child, [more children]) builds an element.
 * Attribute values are set with setAttribute (never parsed as markup); `on*` keys must be functions
 * and become listeners; `href` is refused here (use link()), so no URL slips in unchecked.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) {
        if (typeof v !== 'function') throw new TypeError(`${k} must be a function`);
        el.addEventListener(k.slice(2), v);
      } else if (k === 'href' || k === 'src' || k === 'style' || k === 'srcdoc') {
        throw new TypeError(`${k} must not be set through h()`);
      } else if (k === 'class') {
        el.className = String(v);
      } else if (k === 'dataset') {
        for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
      } else if (k === 'value') {
        el.value = String(v);
      } else if (v === true) {
        el.setAttribute(k, '');
      } else {
        el.setAttribute(k, String(v));
      }
    }
  }
  append(el, children);
  return el;
}

/** Appends children as h() does: text as text nodes, null/undefined/false skipped, arrays flattened. */
export function add(el, ...children) {
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Removes every child of el. */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/**
 * The URL if it may become a link, else null: absolute http: and https: URLs, and paths on this
 * server (`/trace/...`, not `//host`). Everything else (javascript:, data:, vbscript:, blob:, file:,
 * relative paths that are not rooted, anything unparsable) is refused.
 */
export function safeUrl(raw) {
  if (typeof raw !== 'string' || raw === '') return null;
  // Control characters and whitespace inside a scheme are how filters are fooled ("java\nscript:").
  if (/[\u0000-\u001f\u007f]/.test(raw)) return null;
  const s = raw.trim();
  if (s.startsWith('/') && !s.startsWith('//') && !s.startsWith('/\\')) {
    let u;
    try { u = new URL(s, location.origin); } catch { return null; }
    return u.origin === location.origin ? u.pathname + u.search + u.hash : null;
  }
  let u;
  try { u = new URL(s); } catch { return null; }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  return u.href;
}

/** True when the (safe) URL points at this server. */
export function isInternal(url) {
  return url.startsWith('/') && !url.startsWith('//');
}

/**
 * An anchor for url when it is safe, else the text in a span marked as refused. External links open
 * in a new tab without giving the new page a handle on this one (rel=noopener noreferrer).
 */
export function link(url, text, attrs = {}) {
  const safe = safeUrl(url);
  const label = text ?? url;
  if (safe === null) {
    return h('span', { class: 'refused-link', title: 'not a link: only http(s) and paths on this server are' }, label);
  }
  const a = h('a', attrs, label);
  a.href = safe;
  if (!isInternal(safe)) {
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
  } else {
    a.dataset.route = '';
  }
  return a;
}

/** Opens a safe external URL in a new tab, through a real anchor with rel=noopener. */
export function openExternal(url) {
  const safe = safeUrl(url);
  if (safe === null || isInternal(safe)) return false;
  const a = document.createElement('a');
  a.href = safe;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  document.body.appendChild(a);
  a.click();
  a.remove();
  return true;
}

/** `name{a="1", b="2"}` the way Prometheus prints a series. */
export function formatSeries(labels) {
  const name = labels.__name__ ?? '';
  const rest = Object.keys(labels).filter((k) => k !== '__name__').sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return rest.length ? `${name}{${rest.join(', ')}}` : (name || '{}');
}

/** A small table of label name → value rows. */
export function labelTable(labels, cls = 'labels') {
  const rows = Object.keys(labels).sort().map((k) => h('tr', null, h('th', null, k), h('td', null, labels[k])));
  return h('table', { class: cls }, h('tbody', null, rows));
}

/** A message block (info, warning or error). */
export function notice(kind, ...text) {
  return h('div', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...text);
}
