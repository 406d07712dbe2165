// Output viewer: keeps every line parsed once, puts in the page only the rows in view (plus a margin), so a 1 MiB
// log costs the browser about a hundred row elements however long it is. Follows the end while scrolled to it.
import { PLAIN, parseLine, renderSegments } from './ansi.js';
import { h } from './dom.js';

const OVERSCAN = 30;
const MAX_SHOWN_CHARS = 20000;

export class LogView {
  constructor(label) {
    this.lines = [];
    this.partial = '';
    this.state = PLAIN;
    this.chars = 0;
    this.follow = true;
    this.pending = false;
    this.emptyText = 'No output.';
    this.rows = h('div', { class: 'log-rows' });
    this.spacer = h('div', { class: 'log-spacer' }, this.rows);
    this.empty = h('div', { class: 'log-empty' });
    this.el = h('div', { class: 'log', tabindex: '0', role: 'region', 'aria-label': label }, this.empty, this.spacer);
    this.el.addEventListener('scroll', () => {
      const atEnd = this.el.scrollTop + this.el.clientHeight >= this.el.scrollHeight - 4;
      this.follow = atEnd;
      this.schedule();
    }, { passive: true });
    this.schedule();
  }

  setEmptyText(text) {
    this.emptyText = text;
    this.schedule();
  }

  clear() {
    this.lines = [];
    this.partial = '';
    this.state = PLAIN;
    this.chars = 0;
    this.follow = true;
    this.schedule();
  }

  setText(text) {
    this.clear();
    this.append(text);
  }

  /** Adds output; complete lines are parsed now (ANSI state carries from line to line), the last partial one stays raw. */
  append(text) {
    if (!text) return;
    this.chars += text.length;
    const pieces = (this.partial + text).split('\n');
    this.partial = pieces.pop();
    for (const line of pieces) {
      const parsed = parseLine(line, this.state);
      this.state = parsed.state;
      this.lines.push(parsed.segments);
    }
    this.schedule();
  }

  lineCount() {
    return this.lines.length + (this.partial ? 1 : 0);
  }

  /** The plain text of every line, for tests and copy: escape sequences removed. */
  text() {
    const plain = (segments) => (typeof segments === 'string' ? segments : segments.map((s) => s.text).join(''));
    return this.lines.map(plain).join('\n') + (this.partial ? `\n${plain(parseLine(this.partial, this.state).segments)}` : '');
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  lineHeight() {
    if (!this.measured) {
      const probe = h('div', { class: 'log-row', text: 'x' });
      this.rows.append(probe);
      this.measured = probe.getBoundingClientRect().height || 18;
      probe.remove();
    }
    return this.measured;
  }

  render() {
    const count = this.lineCount();
    this.empty.textContent = count === 0 ? this.emptyText : '';
    this.empty.hidden = count !== 0;
    const lh = this.lineHeight();
    this.spacer.style.height = `${count * lh}px`;
    if (this.follow) this.el.scrollTop = this.el.scrollHeight;
    const first = Math.max(0, Math.floor(this.el.scrollTop / lh) - OVERSCAN);
    const last = Math.min(count, Math.ceil((this.el.scrollTop + this.el.clientHeight) / lh) + OVERSCAN);
    const rows = [];
    for (let i = first; i < last; i++) {
      const segments = i < this.lines.length ? this.lines[i] : parseLine(this.partial, this.state).segments;
      const row = document.createElement('div');
      row.className = 'log-row';
      row.append(renderSegments(cut(segments)));
      rows.push(row);
    }
    this.rows.style.transform = `translateY(${first * lh}px)`;
    this.rows.replaceChildren(...rows);
  }
}

/** A line longer than the view can show is cut for display (the data is kept). */
function cut(segments) {
  if (typeof segments === 'string') {
    return segments.length > MAX_SHOWN_CHARS ? `${segments.slice(0, MAX_SHOWN_CHARS)} … [line cut for display]` : segments;
  }
  let left = MAX_SHOWN_CHARS;
  const shown = [];
  for (const s of segments) {
    if (left <= 0) break;
    shown.push(s.text.length > left ? { text: `${s.text.slice(0, left)} … [line cut for display]`, style: s.style } : s);
    left -= s.text.length;
  }
  return shown;
}
