// The single-page app's entry: picks the page for the URL, and turns clicks on same-origin links
// marked data-route into history navigation.

import { graphPage } from './graph.js';
import { targetsPage } from './targets.js';
import { coveragePage } from './coverage.js';
import { tracePage } from './trace.js';

const app = document.getElementById('app');
let cleanup = null;

function mount() {
  if (cleanup) { try { cleanup(); } catch { /* a page's teardown must not block the next */ } }
  cleanup = null;
  const path = location.pathname.replace(/^\/ui(?=\/|$)/, '') || '/';
  let page = 'graph';
  const trace = /^\/trace\/([^/]+)$/.exec(path);
  if (path === '/targets') { page = 'targets'; cleanup = targetsPage(app, navigate); } else if (path === '/exemplars') { page = 'exemplars'; cleanup = coveragePage(app, navigate); } else if (trace) {
    page = 'trace';
    cleanup = tracePage(app, navigate, decodeURIComponent(trace[1]));
  } else cleanup = graphPage(app, navigate);
  for (const a of document.querySelectorAll('nav a[data-page]')) a.classList.toggle('active', a.dataset.page === page);
  document.title = `Diamond · ${page === 'exemplars' ? 'Exemplar coverage' : page[0].toUpperCase() + page.slice(1)}`;
}

export function navigate(url) {
  history.pushState(null, '', url);
  mount();
  window.scrollTo(0, 0);
}

document.addEventListener('click', (e) => {
  const a = e.target.closest?.('a[data-route]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const u = new URL(a.href, location.origin);
  if (u.origin !== location.origin) return;
  e.preventDefault();
  navigate(u.pathname + u.search);
});
window.addEventListener('popstate', mount);
mount();
