// The dashboard's shell: sign-in, the header, the banner saying whether the master answers, and a hash router
// (#/, #/tasks, #/tasks/<id>, #/workers, #/submit, #/tokens). Views mount into <main> and return a function that unmounts them.
import { api, ApiError, explain, onReachability, session, setToken, whenUnauthorized } from './api.js';
import { $, fill, h } from './dom.js';
import * as stats from './stats.js';
import { overview } from './views/overview.js';
import { submit } from './views/submit.js';
import { task } from './views/task.js';
import { tasks } from './views/tasks.js';
import { tokens } from './views/tokens.js';
import { workers } from './views/workers.js';

const main = $('#main');
let unmount = null;
let signInNote = null;

const ROUTES = [
  [/^\/?$/, 'overview', overview],
  [/^\/tasks\/?$/, 'tasks', tasks],
  [/^\/tasks\/([0-9a-fA-F-]{1,64})$/, 'tasks', task],
  [/^\/workers\/?$/, 'workers', workers],
  [/^\/submit\/?$/, 'submit', submit],
  [/^\/tokens\/?$/, 'tokens', tokens],
];

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  return { path, query: new URLSearchParams(query) };
}

function route() {
  if (unmount) {
    unmount();
    unmount = null;
  }
  if (!session.me) {
    signIn();
    return;
  }
  const { path, query } = parseHash();
  for (const [pattern, name, view] of ROUTES) {
    const m = pattern.exec(path);
    if (m) {
      document.querySelectorAll('#nav a').forEach((a) => {
        if (a.dataset.route === name) a.setAttribute('aria-current', 'page');
        else a.removeAttribute('aria-current');
      });
      fill(main);
      unmount = view(main, { id: m[1], query }) || null;
      const heading = main.querySelector('h1');
      if (heading && document.activeElement !== main && !main.contains(document.activeElement)) {
        heading.setAttribute('tabindex', '-1');
        heading.focus({ preventScroll: true });
      }
      return;
    }
  }
  fill(main, h('div', { class: 'page-head' }, h('h1', { text: 'Not found' })),
    h('p', null, 'There is no such page in the dashboard. ', h('a', { href: '#/', text: 'Go to the overview' })));
}

function showShell(on) {
  $('#top').hidden = !on;
  $('#loading')?.remove();
  if (on) {
    const me = session.me;
    fill($('#who'), h('span', { text: me.name }), ' ', h('span', { class: 'role', text: me.role || 'no role' }));
    document.querySelectorAll('[data-needs]').forEach((el) => {
      el.hidden = !session.can(el.dataset.needs);
    });
  }
}

function signIn() {
  showShell(false);
  document.title = 'Sign in · Taskgrid';
  const error = h('p', { class: 'field-error', id: 'token-error', role: 'alert' });
  const input = h('input', {
    id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true,
    'aria-describedby': 'token-hint token-error',
  });
  const button = h('button', { type: 'submit', class: 'btn btn-primary', id: 'signin', text: 'Sign in' });
  const form = h('form', { class: 'panel', novalidate: true },
    h('div', { class: 'field' },
      h('label', { for: 'token', text: 'API token' }), input,
      h('p', { class: 'hint', id: 'token-hint' },
        'A viewer, submitter or operator token (see the README, Security). It stays in this browser tab only and '
        + 'goes to this master only; closing the tab signs you out.'),
      error),
    h('div', { class: 'form-actions' }, button));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) {
      error.textContent = 'Paste an API token.';
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    button.disabled = true;
    error.textContent = '';
    try {
      const me = await api('/me', { token, quiet: true });
      setToken(token);
      session.me = me;
      signInNote = null;
      showShell(true);
      route();
    } catch (e) {
      input.setAttribute('aria-invalid', 'true');
      error.textContent = e instanceof ApiError && e.kind === 'auth' ? 'This token is not valid on this master.' : explain(e);
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  fill(main, h('div', { class: 'signin' },
    h('h1', null, h('img', { src: 'favicon.svg', alt: '', width: '28', height: '28' }), 'Sign in to Taskgrid'),
    signInNote ? h('p', { class: 'notice warn', role: 'alert', text: signInNote }) : null,
    form));
  input.focus();
}

function signOut(note) {
  setToken(null);
  session.me = null;
  signInNote = note || null;
  stats.stop();
  route();
}

whenUnauthorized((detail) => {
  if (session.me) signOut(`You were signed out: the master no longer accepts this token (${detail}).`);
});

onReachability(({ ok, why }) => {
  const banner = $('#banner');
  banner.hidden = ok;
  banner.className = ok ? 'banner' : 'banner error';
  banner.textContent = ok ? '' : why === 'starting'
    ? 'The master is starting. Retrying; this page recovers by itself.'
    : 'The master is unreachable. Retrying every few seconds; this page recovers by itself when it is back.';
});

$('#signout').addEventListener('click', () => signOut('Signed out.'));
window.addEventListener('hashchange', route);

async function boot() {
  // With a token from earlier in this tab; without one, a master with authentication off answers anyway.
  for (let wait = 1000; ; wait = Math.min(wait * 2, 10000)) {
    try {
      session.me = await api('/me', { quiet: true, token: session.token });
      break;
    } catch (e) {
      if (e instanceof ApiError && e.kind === 'offline') {
        fill(main, h('p', { class: 'notice error', role: 'alert', text: explain(e) }));
        await new Promise((resolve) => setTimeout(resolve, wait));
        continue;
      }
      if (session.token) signInNote = e.kind === 'auth' ? 'Your session ended: sign in again.' : explain(e);
      setToken(null);
      break;
    }
  }
  if (session.me) showShell(true);
  route();
}

boot();
