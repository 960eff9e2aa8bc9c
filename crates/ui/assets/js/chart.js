// The range-query graph: uPlot draws the lines and axes; this module draws a diamond at every
// exemplar on uPlot's canvas (a draw hook), thins overlapping ones, and answers hover and click
// from its own spatial index.
//
// Thinning rule: per series group and per diamond-sized cell of the plot only one diamond is drawn,
// but in every pixel column of every series group the exemplars with the highest and the lowest
// value are always drawn, so outliers never disappear. How many were thinned is reported by stats().

import uPlot from '../vendor/uplot-1.6.32/uPlot.esm.js';

const PALETTE = ['#1f77b4', '#e6522c', '#2ca02c', '#9467bd', '#d62728', '#17becf', '#bcbd22',
  '#8c564b', '#e377c2', '#7f7f7f'];

/** The colour of series i. */
export function seriesColor(i) {
  if (i < PALETTE.length) return PALETTE[i];
  const hue = Math.round((i * 137.508) % 360);
  return `hsl(${hue}, 62%, 45%)`;
}

/** Half the diagonal of a diamond, in CSS pixels, per link status. */
const SIZE = { found: 6, unknown: 6, missing: 6, unparsable: 5.5, none: 4 };

/**
 * Draws one diamond centred on (x, y) in the context's units. The five link states differ in shape,
 * not only in colour, so they read in print and for colour-blind users too:
 * found: solid with a dark edge; unknown: lighter fill, dark edge; missing (a dangling link): hollow
 * with a red slash; unparsable: hollow with a dashed edge; none: small and faint, no edge.
 */
export function drawDiamond(ctx, x, y, status, color, scale = 1, highlight = false) {
  const r = (SIZE[status] ?? 6) * scale * (highlight ? 1.4 : 1);
  ctx.save();
  ctx.beginPath();
  ctx.moveTo(x, y - r);
  ctx.lineTo(x + r, y);
  ctx.lineTo(x, y + r);
  ctx.lineTo(x - r, y);
  ctx.closePath();
  ctx.lineWidth = 1.25 * scale;
  switch (status) {
    case 'found':
      ctx.fillStyle = color;
      ctx.fill();
      ctx.strokeStyle = '#1b1b1b';
      ctx.stroke();
      break;
    case 'missing':
      ctx.fillStyle = '#ffffff';
      ctx.fill();
      ctx.lineWidth = 2 * scale;
      ctx.strokeStyle = color;
      ctx.stroke();
      ctx.beginPath();
      ctx.moveTo(x - r * 0.55, y + r * 0.55);
      ctx.lineTo(x + r * 0.55, y - r * 0.55);
      ctx.strokeStyle = '#d40000';
      ctx.lineWidth = 3 * scale; // wide enough that the centre pixel is solid red at any sub-pixel position
      ctx.stroke();
      break;
    case 'unparsable':
      ctx.fillStyle = '#ffffff';
      ctx.fill();
      ctx.setLineDash([2 * scale, 1.5 * scale]);
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.5 * scale;
      ctx.stroke();
      break;
    case 'none':
      ctx.globalAlpha = 0.55;
      ctx.fillStyle = color;
      ctx.fill();
      break;
    default: // unknown
      ctx.globalAlpha = 0.6;
      ctx.fillStyle = color;
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.strokeStyle = '#1b1b1b';
      ctx.stroke();
  }
  if (highlight) {
    ctx.globalAlpha = 1;
    ctx.setLineDash([]);
    ctx.strokeStyle = '#000000';
    ctx.lineWidth = 1 * scale;
    ctx.stroke();
  }
  ctx.restore();
}

function diamondPath(ctx, x, y, r) {
  ctx.moveTo(x, y - r);
  ctx.lineTo(x + r, y);
  ctx.lineTo(x, y + r);
  ctx.lineTo(x - r, y);
  ctx.closePath();
}

/**
 * Draws many diamonds as drawDiamond would, one canvas path per (status, colour) instead of one per
 * diamond: filling and stroking 10k separate paths is what made a redraw slow. items: [{x, y, status,
 * color}] in the context's units.
 */
export function drawDiamonds(ctx, items, scale = 1) {
  const groups = new Map();
  for (const d of items) {
    const k = `${d.status}\u0000${d.color}`;
    let g = groups.get(k);
    if (!g) { g = { status: d.status, color: d.color, pts: [] }; groups.set(k, g); }
    g.pts.push(d);
  }
  ctx.save();
  for (const g of groups.values()) {
    const r = (SIZE[g.status] ?? 6) * scale;
    ctx.beginPath();
    for (const d of g.pts) diamondPath(ctx, d.x, d.y, r);
    ctx.setLineDash([]);
    ctx.globalAlpha = 1;
    ctx.lineWidth = 1.25 * scale;
    switch (g.status) {
      case 'found':
        ctx.fillStyle = g.color; ctx.fill();
        ctx.strokeStyle = '#1b1b1b'; ctx.stroke();
        break;
      case 'missing': {
        ctx.fillStyle = '#ffffff'; ctx.fill();
        ctx.lineWidth = 2 * scale; ctx.strokeStyle = g.color; ctx.stroke();
        ctx.beginPath();
        for (const d of g.pts) { ctx.moveTo(d.x - r * 0.55, d.y + r * 0.55); ctx.lineTo(d.x + r * 0.55, d.y - r * 0.55); }
        ctx.strokeStyle = '#d40000'; ctx.lineWidth = 3 * scale; ctx.stroke();
        break;
      }
      case 'unparsable':
        ctx.fillStyle = '#ffffff'; ctx.fill();
        ctx.setLineDash([2 * scale, 1.5 * scale]);
        ctx.strokeStyle = g.color; ctx.lineWidth = 1.5 * scale; ctx.stroke();
        break;
      case 'none':
        ctx.globalAlpha = 0.55; ctx.fillStyle = g.color; ctx.fill();
        break;
      default: // unknown
        ctx.globalAlpha = 0.6; ctx.fillStyle = g.color; ctx.fill();
        ctx.globalAlpha = 1; ctx.strokeStyle = '#1b1b1b'; ctx.stroke();
    }
  }
  ctx.restore();
}

const pad2 = (n) => String(n).padStart(2, '0');

/** Tick labels in UTC and 24-hour time, as Prometheus's UI prints them; the date where the day changes. */
function timeTicks(u, splits, axis, space, incr) {
  let lastDay = null;
  return splits.map((t) => {
    const d = new Date(t * 1000);
    const day = `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
    if (incr >= 86400) return day;
    const hm = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`;
    const time = incr < 60 ? `${hm}:${pad2(d.getUTCSeconds())}` : hm;
    const label = day !== lastDay ? `${time}\n${day}` : time;
    lastDay = day;
    return label;
  });
}

/** Picks which exemplars to draw. Pure (positions in, indexes out), exported for the benchmark. */
export function thin(points, cell) {
  // points: [{x, y, v, g}] in CSS px; g = series group. Returns a Uint8Array of keep flags.
  const keep = new Uint8Array(points.length);
  const cells = new Map();
  const cols = new Map();
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    const ck = `${p.g}:${Math.floor(p.x / cell)}:${Math.floor(p.y / cell)}`;
    if (!cells.has(ck)) { cells.set(ck, i); keep[i] = 1; }
    const colKey = `${p.g}:${Math.round(p.x)}`;
    const c = cols.get(colKey);
    if (!c) cols.set(colKey, { max: i, min: i });
    else {
      if (p.v > points[c.max].v) c.max = i;
      if (p.v < points[c.min].v) c.min = i;
    }
  }
  for (const c of cols.values()) { keep[c.max] = 1; keep[c.min] = 1; }
  return keep;
}

/**
 * Creates the chart in `el`.
 * opts: {series: [{labels, color, values: Float64Array|Array (null for gaps)}], xs: [unix s],
 *        exemplars: [{ts, value, labels, seriesLabels, trace, group, color}], start, end,
 *        showExemplars, onHover(ex|null, pos), onClick(ex), onZoom(start, end)}
 */
export function createChart(el, opts) {
  const dpr = () => window.devicePixelRatio || 1;
  let show = opts.showExemplars;
  let drawn = []; // {ex, x, y} in CSS px relative to the plotting area
  let grid = new Map();
  let hovered = null;
  let stats = { total: opts.exemplars.length, drawn: 0, thinned: 0, offscreen: 0 };
  const hidden = new Set(); // series groups switched off in the legend

  const exMin = opts.exemplars.reduce((m, e) => (Number.isFinite(e.value) ? Math.min(m, e.value) : m), Infinity);
  const exMax = opts.exemplars.reduce((m, e) => (Number.isFinite(e.value) ? Math.max(m, e.value) : m), -Infinity);

  function yRange(u, dmin, dmax) {
    let lo = dmin;
    let hi = dmax;
    if (show && exMin <= exMax) {
      lo = lo === null || lo === undefined ? exMin : Math.min(lo, exMin);
      hi = hi === null || hi === undefined ? exMax : Math.max(hi, exMax);
    }
    if (lo === null || lo === undefined || !Number.isFinite(lo)) return [0, 1];
    return uPlot.rangeNum(lo, hi, 0.1, true);
  }

  function layout(u) {
    const pts = [];
    const exs = [];
    let off = 0;
    const w = u.over.clientWidth;
    const hgt = u.over.clientHeight;
    for (const ex of opts.exemplars) {
      if (hidden.has(ex.group)) continue;
      const x = u.valToPos(ex.ts, 'x');
      const y = u.valToPos(ex.value, 'y');
      if (!Number.isFinite(x) || !Number.isFinite(y) || x < -1 || x > w + 1 || y < -1 || y > hgt + 1) { off++; continue; }
      pts.push({ x, y, v: ex.value, g: ex.group });
      exs.push(ex);
    }
    const keep = thin(pts, 5);
    drawn = [];
    grid = new Map();
    for (let i = 0; i < pts.length; i++) {
      if (!keep[i]) continue;
      const d = { ex: exs[i], x: pts[i].x, y: pts[i].y };
      drawn.push(d);
      const gk = `${Math.floor(d.x / 16)}:${Math.floor(d.y / 16)}`;
      if (!grid.has(gk)) grid.set(gk, []);
      grid.get(gk).push(d);
    }
    stats = { total: opts.exemplars.length, drawn: drawn.length, thinned: pts.length - drawn.length, offscreen: off, hiddenSeries: opts.exemplars.length - pts.length - off };
  }

  function draw(u) {
    if (!show) { drawn = []; grid = new Map(); stats = { ...stats, drawn: 0 }; paintHover(); if (opts.onDraw) opts.onDraw({ ...stats }); return; }
    layout(u);
    const ctx = u.ctx;
    const s = dpr();
    const left = u.bbox.left;
    const top = u.bbox.top;
    ctx.save();
    ctx.beginPath();
    ctx.rect(u.bbox.left - 8 * s, u.bbox.top - 8 * s, u.bbox.width + 16 * s, u.bbox.height + 16 * s);
    ctx.clip();
    drawDiamonds(ctx, drawn.map((d) => ({ x: left + d.x * s, y: top + d.y * s, status: d.ex.trace?.status ?? 'none', color: d.ex.color })), s);
    ctx.restore();
    paintHover();
    if (opts.onDraw) opts.onDraw({ ...stats });
  }

  let hoverLayer = null;
  function paintHover() {
    if (!hoverLayer) return;
    const s = dpr();
    const w = u.over.clientWidth;
    const hgt = u.over.clientHeight;
    if (hoverLayer.width !== Math.round(w * s) || hoverLayer.height !== Math.round(hgt * s)) {
      hoverLayer.width = Math.round(w * s);
      hoverLayer.height = Math.round(hgt * s);
      hoverLayer.style.width = `${w}px`;
      hoverLayer.style.height = `${hgt}px`;
    }
    const ctx = hoverLayer.getContext('2d');
    ctx.clearRect(0, 0, hoverLayer.width, hoverLayer.height);
    if (hovered && show && drawn.includes(hovered)) {
      drawDiamond(ctx, hovered.x * s, hovered.y * s, hovered.ex.trace?.status ?? 'none', hovered.ex.color, s, true);
    }
  }

  function nearest(x, y) {
    let best = null;
    let bestD = 9 * 9;
    const gx = Math.floor(x / 16);
    const gy = Math.floor(y / 16);
    for (let i = gx - 1; i <= gx + 1; i++) {
      for (let j = gy - 1; j <= gy + 1; j++) {
        for (const d of grid.get(`${i}:${j}`) ?? []) {
          const dd = (d.x - x) ** 2 + (d.y - y) ** 2;
          if (dd <= bestD) { bestD = dd; best = d; }
        }
      }
    }
    return best;
  }

  const series = [{}];
  opts.series.forEach((s, i) => {
    series.push({
      label: `series ${i}`,
      stroke: s.color,
      width: 1.5,
      points: { show: opts.xs.length < 60 },
      spanGaps: false,
      show: true,
    });
  });

  const u = new uPlot({
    width: Math.max(el.clientWidth, 300),
    height: 360,
    legend: { show: false },
    cursor: { points: { show: false }, drag: { x: true, y: false, setScale: false } },
    select: { show: true },
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    scales: { x: { time: true, min: opts.start, max: opts.end }, y: { range: yRange } },
    axes: [{ values: timeTicks, space: 70 }, { size: 60 }],
    series,
    hooks: {
      draw: [draw],
      setSelect: [(uu) => {
        if (uu.select.width > 4 && opts.onZoom) {
          const a = uu.posToVal(uu.select.left, 'x');
          const b = uu.posToVal(uu.select.left + uu.select.width, 'x');
          uu.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
          opts.onZoom(a, b);
        }
      }],
    },
  }, [opts.xs, ...opts.series.map((s) => s.values)], el);

  // The hovered diamond is drawn enlarged on a canvas of its own over the plot, so hovering costs one
  // diamond, not a redraw of the chart and all its diamonds.
  const hoverCanvas = document.createElement('canvas');
  hoverCanvas.className = 'hover-layer';
  hoverCanvas.style.position = 'absolute';
  hoverCanvas.style.left = '0';
  hoverCanvas.style.top = '0';
  hoverCanvas.style.pointerEvents = 'none';
  u.over.appendChild(hoverCanvas);
  hoverLayer = hoverCanvas;
  paintHover();

  u.over.addEventListener('mousemove', (e) => {
    const d = show ? nearest(e.offsetX, e.offsetY) : null;
    if (d !== hovered) {
      hovered = d;
      paintHover();
      u.over.style.cursor = d ? 'pointer' : '';
    }
    if (opts.onHover) {
      const r = u.over.getBoundingClientRect();
      opts.onHover(d ? d.ex : null, d ? { x: d.x, y: d.y, left: r.left, top: r.top } : null);
    }
  });
  u.over.addEventListener('mouseleave', () => {
    if (hovered) { hovered = null; paintHover(); }
    if (opts.onHover) opts.onHover(null, null);
  });
  u.over.addEventListener('click', (e) => {
    const d = show ? nearest(e.offsetX, e.offsetY) : null;
    if (d && opts.onClick) opts.onClick(d.ex);
  });

  const ro = new ResizeObserver(() => {
    const w = Math.max(el.clientWidth, 300);
    if (Math.abs(w - u.width) > 1) u.setSize({ width: w, height: 360 });
  });
  ro.observe(el);

  // Read-only view for the browser tests and the benchmark: where each drawn diamond is, in page
  // coordinates, and the counts.
  el.diamondProbe = () => {
    const r = u.over.getBoundingClientRect();
    return {
      stats: { ...stats },
      plot: { left: r.left, top: r.top, width: r.width, height: r.height },
      scales: { x: [u.scales.x.min, u.scales.x.max], y: [u.scales.y.min, u.scales.y.max] },
      diamonds: drawn.map((d) => ({
        x: r.left + d.x, y: r.top + d.y, ts: d.ex.ts, value: d.ex.value, group: d.ex.group,
        status: d.ex.trace?.status ?? 'none', traceId: d.ex.trace?.traceId ?? null, labels: d.ex.labels,
      })),
    };
  };

  return {
    setShowExemplars(v) { show = v; u.setData(u.data, true); },
    setSeriesVisible(i, v) {
      u.setSeries(i + 1, { show: v });
      if (v) hidden.delete(i); else hidden.add(i);
      u.redraw(false, false);
    },
    stats: () => ({ ...stats }),
    destroy() { ro.disconnect(); delete el.diamondProbe; u.destroy(); },
  };
}
