// API tokens made through the API (operator): make one (its secret is shown here once and never again), list them
// (never a secret), revoke one. Tokens of the master's tokens file are not listed: that file is their one place.
import { api, explain, session } from '../api.js';
import { confirmDialog, exact, exactAndAgo, fill, h, toast } from '../dom.js';

function statusOf(t) {
  if (t.revokedAt) return h('span', { class: 'badge b-danger', title: `revoked by ${t.revokedBy || '?'}`, text: 'REVOKED' });
  if (!t.active) return h('span', { class: 'badge b-warn', text: 'EXPIRED' });
  return h('span', { class: 'badge b-ok', text: 'ACTIVE' });
}

export function tokens(main) {
  document.title = 'Tokens · Taskgrid';
  if (!session.can('operator')) {
    fill(main, h('div', { class: 'page-head' }, h('h1', { text: 'API tokens' })),
      h('p', { class: 'notice warn', id: 'not-allowed', text: `Your token's role (${session.me.role}) may not manage `
        + 'tokens. That needs an operator token.' }));
    return null;
  }
  const error = h('div', { role: 'alert', id: 'tokens-error' });
  const made = h('div', { id: 'token-made', 'aria-live': 'polite' });
  const body = h('tbody');
  const name = h('input', { id: 't-name', name: 'name', required: true, maxlength: '64', autocomplete: 'off',
    pattern: '[A-Za-z0-9][A-Za-z0-9._@\\-]{0,63}', 'aria-describedby': 't-name-hint' });
  const role = h('select', { id: 't-role', name: 'role' },
    ['viewer', 'submitter', 'operator'].map((r) => h('option', { value: r, text: r, selected: r === 'submitter' })));
  const days = h('input', { id: 't-days', name: 'expiresInDays', type: 'number', inputmode: 'numeric', min: '1',
    max: '3653', step: '1', placeholder: 'never', 'aria-describedby': 't-days-hint' });
  const create = h('button', { type: 'submit', class: 'btn btn-primary', text: 'Make token' });
  const form = h('form', { id: 'token-form', class: 'form-grid', novalidate: true },
    h('div', { class: 'field narrow' }, h('label', { for: 't-name', text: 'Name' }), name,
      h('p', { class: 'hint', id: 't-name-hint', text: 'Who or what uses it; becomes submittedBy. Letters, digits, . _ @ -' })),
    h('div', { class: 'field narrow' }, h('label', { for: 't-role', text: 'Role' }), role),
    h('div', { class: 'field narrow' }, h('label', { for: 't-days', text: 'Expires in days' }), days,
      h('p', { class: 'hint', id: 't-days-hint', text: 'Empty: until revoked.' })),
    h('div', { class: 'field narrow' }, create));

  fill(main,
    h('div', { class: 'page-head' }, h('h1', { text: 'API tokens' }),
      h('p', { class: 'sub', text: 'Tokens made here live in the master\'s database, hashed. A token\'s secret is shown '
        + 'once, when it is made. A revoked or expired token is refused at once. Tokens of the tokens file are not '
        + 'listed here.' })),
    error,
    h('section', { class: 'panel' }, h('h2', { text: 'Make a token' }), form, made),
    h('section', { class: 'panel' }, h('h2', { text: 'Tokens' }),
      h('div', { class: 'table-wrap' }, h('table', { id: 'tokens' },
        h('thead', null, h('tr', null,
          h('th', { text: 'Name' }), h('th', { text: 'Role' }), h('th', { text: 'Status' }),
          h('th', { class: 'opt', text: 'Made' }), h('th', { class: 'opt', text: 'Expires' }),
          h('th', { text: 'Last used' }), h('th', null, h('span', { class: 'visually-hidden', text: 'Actions' })))),
        body))));

  let stopped = false;

  async function load() {
    try {
      const page = await api('/tokens?limit=1000');
      if (stopped) return;
      fill(error);
      const list = page.tokens || [];
      fill(body, list.length === 0
        ? h('tr', null, h('td', { colspan: '7', class: 'empty', text: 'No token has been made through the API yet.' }))
        : list.map((t) => {
          const revoke = t.active ? h('button', { type: 'button', class: 'btn btn-small', 'data-token': t.id,
            'aria-label': `Revoke ${t.name}`, text: 'Revoke' }) : null;
          revoke?.addEventListener('click', () => revokeToken(t, revoke));
          return h('tr', { 'data-token-row': t.id },
            h('td', { class: 'mono', text: t.name }),
            h('td', { text: t.role }),
            h('td', null, statusOf(t), t.revokedBy ? h('div', { class: 'rel', text: `by ${t.revokedBy}` }) : null),
            h('td', { class: 'opt nowrap' }, exactAndAgo(t.createdAt), h('div', { class: 'rel', text: `by ${t.createdBy}` })),
            h('td', { class: 'opt nowrap', text: t.expiresAt ? exact(t.expiresAt) : 'never' }),
            h('td', { class: 'nowrap' }, t.lastUsedAt ? exactAndAgo(t.lastUsedAt) : h('span', { class: 'muted', text: 'never' })),
            h('td', null, revoke));
        }));
    } catch (e) {
      if (!stopped) fill(error, h('p', { class: 'notice error', text: explain(e) }));
    }
  }

  async function revokeToken(t, button) {
    const ok = await confirmDialog(`Revoke ${t.name}?`, `The token "${t.name}" (${t.role}) will be refused from now on. `
      + 'This cannot be undone; make a new token instead.', `Revoke ${t.name}`);
    if (!ok) {
      button.focus();
      return;
    }
    button.disabled = true;
    try {
      await api(`/tokens/${encodeURIComponent(t.id)}`, { method: 'DELETE' });
      toast(`${t.name} is revoked.`);
      load();
    } catch (e) {
      button.disabled = false;
      fill(error, h('p', { class: 'notice error', text: `Could not revoke ${t.name}: ${explain(e)}` }));
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    fill(made);
    const request = { name: name.value.trim(), role: role.value };
    if (days.value.trim()) request.expiresInDays = Number(days.value);
    create.disabled = true;
    try {
      const answer = await api('/tokens', { method: 'POST', body: request });
      const secret = h('code', { id: 'token-secret', class: 'mono secret', text: answer.secret });
      fill(made, h('div', { class: 'notice ok' },
        h('p', null, `Token for ${answer.token.name} (${answer.token.role}) made. Copy it now: it is not shown again.`),
        h('p', null, secret)));
      name.value = '';
      days.value = '';
      load();
    } catch (e) {
      fill(made, h('p', { class: 'notice error', id: 'token-form-error', text: explain(e) }));
    } finally {
      create.disabled = false;
    }
  });

  load();
  const timer = setInterval(() => {
    if (!document.hidden) load();
  }, 10000);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
