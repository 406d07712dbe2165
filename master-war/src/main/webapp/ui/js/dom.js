// Small DOM helpers. Text always goes in as text (textContent), never as HTML: task commands and output are data.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value == null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = value;
      else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
      else if (value === true) el.setAttribute(key, '');
      else el.setAttribute(key, String(value));
    }
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

export function fill(el, ...children) {
  el.replaceChildren();
  add(el, children);
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

const pad = (n, width = 2) => String(n).padStart(width, '0');

/** An exact time: local date and time to the millisecond, the API's own UTC value on hover and in datetime. */
export function exact(iso) {
  if (!iso) return h('span', { class: 'muted', text: '—' });
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('span', { text: iso });
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} `
    + `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  return h('time', { class: 'exact', datetime: iso, title: `${iso} (UTC)`, text });
}

/** An exact time followed by how long ago it was. */
export function exactAndAgo(iso) {
  if (!iso) return exact(iso);
  return h('span', null, exact(iso), ' ', h('span', { class: 'rel', text: `(${ago(iso)})` }));
}

export function ago(iso) {
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 0) return 'in the future';
  return `${duration(seconds * 1000)} ago`;
}

export function duration(ms) {
  if (ms == null || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours} h ${m % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

export function between(fromIso, toIso) {
  if (!fromIso) return null;
  const end = toIso ? new Date(toIso).getTime() : Date.now();
  return end - new Date(fromIso).getTime();
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

// The task states come from the master's enum (states.js is made by the master, not kept in the WAR).
export { FINAL, STATES } from './states.js';

export function stateBadge(state) {
  return h('span', { class: `badge s-${state}`, 'data-state': state, text: state ? state.replace('_', ' ') : '—' });
}

export function labelChips(labels) {
  if (!labels || typeof labels !== 'object' || Object.keys(labels).length === 0) {
    return h('span', { class: 'muted', text: '—' });
  }
  return Object.entries(labels).map(([k, v]) => h('span', { class: 'chip', text: `${k}=${v}` }));
}

/** A toast: a short confirmation, read out by screen readers, gone after a few seconds. */
export function toast(text) {
  const box = document.getElementById('toasts');
  const item = h('div', { class: 'toast', text });
  box.append(item);
  setTimeout(() => item.remove(), 4000);
}

/** A modal confirmation (the native dialog: focus stays inside, Escape cancels). Resolves true when confirmed. */
export function confirmDialog(title, text, action) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-yes').textContent = action;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
    document.getElementById('confirm-no').focus();
  });
}

/** Runs fn now and then every intervalMs, never while the tab is hidden; stop() ends it. */
export function poller(fn, intervalMs) {
  let timer = null;
  let running = false;
  let stopped = false;
  const tick = async () => {
    timer = null;
    if (stopped || document.hidden) return;
    running = true;
    try {
      await fn();
    } catch (e) {
      // each poller reports its own failures; a failed look is simply tried again
    } finally {
      running = false;
    }
    if (!stopped && !document.hidden && timer == null) {
      timer = setTimeout(tick, typeof intervalMs === 'function' ? intervalMs() : intervalMs);
    }
  };
  const onVisibility = () => {
    if (!document.hidden && timer == null && !running && !stopped) tick();
  };
  document.addEventListener('visibilitychange', onVisibility);
  tick();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    },
    now() {
      if (running || stopped) return;
      clearTimeout(timer);
      timer = null;
      tick();
    },
  };
}
