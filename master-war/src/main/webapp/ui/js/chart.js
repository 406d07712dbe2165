// A small live line chart in SVG, drawn by hand: the last few minutes of one series.
import { h } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';
const W = 600;
const H = 120;

function svg(tag, attrs) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export class LineChart {
  /** @param format how a value reads, e.g. v => v.toFixed(1) + ' /s' */
  constructor({ title, tone, format, windowMs }) {
    this.title = title;
    this.format = format;
    this.windowMs = windowMs;
    this.now = h('span', { class: 'now', text: '—' });
    this.max = h('span', { class: 'max' });
    this.line = svg('polyline', { class: 'line', points: '' });
    this.area = svg('polygon', { class: 'area', points: '' });
    const grid = [0.25, 0.5, 0.75].map((f) => svg('line', { class: 'grid-line', x1: 0, x2: W, y1: H * f, y2: H * f }));
    this.svg = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': title });
    this.svg.append(...grid, this.area, this.line);
    this.since = h('span');
    this.el = h('figure', { class: `chart ${tone}` },
      h('div', { class: 'chart-head' }, h('h3', { text: title }), this.now, this.max),
      this.svg,
      h('div', { class: 'chart-axis', 'aria-hidden': 'true' }, this.since, h('span', { text: 'now' })));
  }

  /**
   * samples: [{t: ms epoch, v: number}], oldest first. The time axis spans the samples there are, at least a minute
   * and at most the window, so a chart opened a moment ago is not a sliver at its right edge.
   */
  update(samples) {
    const end = Date.now();
    const oldest = samples.length ? samples[0].t : end;
    const span = Math.min(this.windowMs, Math.max(60000, end - oldest));
    const start = end - span;
    this.since.textContent = span >= 120000 ? `${Math.round(span / 60000)} min ago` : `${Math.round(span / 1000)} s ago`;
    const shown = samples.filter((s) => s.t >= start && s.v != null);
    const peak = shown.reduce((m, s) => Math.max(m, s.v), 0);
    const top = niceCeiling(peak);
    const x = (t) => (((t - start) / span) * W).toFixed(1);
    const y = (v) => (H - 4 - (v / top) * (H - 12)).toFixed(1);
    const points = shown.map((s) => `${x(s.t)},${y(s.v)}`).join(' ');
    this.line.setAttribute('points', points);
    this.area.setAttribute('points', shown.length ? `${x(shown[0].t)},${H} ${points} ${x(shown[shown.length - 1].t)},${H}` : '');
    const latest = shown.length ? shown[shown.length - 1].v : null;
    this.now.textContent = latest == null ? '—' : this.format(latest);
    this.max.textContent = `scale ${this.format(top)}`;
    this.svg.setAttribute('aria-label', `${this.title}: now ${this.now.textContent}, highest ${this.format(peak)} since `
      + `${this.since.textContent}`);
  }
}

function niceCeiling(v) {
  if (v <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(v));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (v <= step * power) return step * power;
  }
  return 10 * power;
}
