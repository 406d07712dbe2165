// Tasks: newest first, filtered by state (by the API) and by text in the command, id, worker, submitter or label (in
// the pages loaded); older pages through the API's cursor; the newest page looked at again every 2 s.
import { api, explain } from '../api.js';
import { between, duration, exact, fill, h, poller, STATES, stateBadge } from '../dom.js';

const PAGE = 50;

function matches(task, needle) {
  if (!needle) return true;
  const hay = [task.cmd, task.id, task.workerId, task.submittedBy, task.state,
    ...Object.entries(task.requires || {}).map(([k, v]) => `${k}=${v}`)].filter(Boolean).join('\n').toLowerCase();
  return needle.toLowerCase().split(/\s+/).filter(Boolean).every((word) => hay.includes(word));
}

export function tasks(main, { query }) {
  document.title = 'Tasks · Taskgrid';
  const state = STATES.includes((query.get('state') || '').toUpperCase()) ? query.get('state').toUpperCase() : '';
  let needle = query.get('q') || '';
  let list = [];
  let older = null;
  let loadedOlder = false;

  const select = h('select', { id: 'state-filter', name: 'state' },
    h('option', { value: '', text: 'Every state' }),
    STATES.map((s) => h('option', { value: s, selected: s === state, text: s.replace('_', ' ') })));
  const search = h('input', { id: 'text-filter', type: 'search', value: needle, placeholder: 'e.g. sleep, w2, gpu=true',
    'aria-describedby': 'text-filter-hint' });
  const body = h('tbody');
  const status = h('p', { class: 'muted small', id: 'tasks-status', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'btn', id: 'load-older', text: 'Load older tasks' });
  const error = h('div', { role: 'alert' });

  fill(main,
    h('div', { class: 'page-head' }, h('h1', { text: 'Tasks' })),
    error,
    h('section', { class: 'panel' },
      h('div', { class: 'toolbar', role: 'search' },
        h('div', null, h('label', { for: 'state-filter', text: 'State' }), select),
        h('div', { class: 'grow' }, h('label', { for: 'text-filter', text: 'Filter' }), search,
          h('p', { class: 'hint', id: 'text-filter-hint', text: 'Words in the command, id, worker, submitter or labels, among the tasks loaded.' }))),
      h('div', { class: 'table-wrap' }, h('table', { id: 'tasks' },
        h('thead', null, h('tr', null,
          h('th', { text: 'State' }), h('th', { text: 'Command' }), h('th', { class: 'opt', text: 'Worker' }),
          h('th', { text: 'Submitted' }), h('th', { class: 'opt num', text: 'Took' }),
          h('th', { class: 'opt num', text: 'Exit' }), h('th', { class: 'opt', text: 'By' }))),
        body)),
      h('div', { class: 'form-actions' }, more, status)));

  const setHash = () => {
    const params = new URLSearchParams();
    if (select.value) params.set('state', select.value);
    if (needle) params.set('q', needle);
    const next = `#/tasks${params.toString() ? `?${params}` : ''}`;
    history.replaceState(null, '', next);
  };

  function render() {
    const shown = list.filter((t) => matches(t, needle));
    fill(body, shown.length === 0
      ? h('tr', null, h('td', { colspan: '7', class: 'empty', text: list.length === 0
        ? (state ? `No ${state.replace('_', ' ')} tasks.` : 'No tasks yet.')
        : 'No loaded task matches the filter. Load older tasks to look further.' }))
      : shown.map((t) => h('tr', { 'data-task': t.id },
        h('td', null, stateBadge(t.state), t.cancelRequested && !['CANCELLED'].includes(t.state)
          ? h('div', { class: 'rel', text: 'cancel requested' }) : null),
        h('td', { class: 'cmd' }, h('a', { href: `#/tasks/${t.id}`, title: t.cmd, text: t.cmd })),
        h('td', { class: 'opt', text: t.workerId || '—' }),
        h('td', { class: 'nowrap' }, exact(t.submittedAt)),
        h('td', { class: 'opt num', text: t.startedAt ? duration(between(t.startedAt, t.finishedAt)) : '—' }),
        h('td', { class: 'opt num', text: t.exitCode == null ? '—' : String(t.exitCode) }),
        h('td', { class: 'opt', text: t.submittedBy || '—' }))));
    status.textContent = needle
      ? `${shown.length} of ${list.length} loaded tasks match.`
      : `${list.length} task${list.length === 1 ? '' : 's'} shown${older ? '; older ones on request' : ', no older ones'}.`;
    more.hidden = !older;
  }

  const stateParam = state ? `&state=${state}` : '';

  async function refreshNewest() {
    try {
      const page = await api(`/tasks?limit=${PAGE}${stateParam}`);
      fill(error);
      const fresh = page.tasks;
      if (!page.next || fresh.length === 0) {
        list = fresh;
        if (!loadedOlder || !page.next) older = page.next;
      } else {
        const oldest = fresh[fresh.length - 1].id;
        list = fresh.concat(list.filter((t) => t.id < oldest));
        if (!loadedOlder) older = page.next;
      }
      render();
    } catch (e) {
      if (e.kind !== 'offline') fill(error, h('p', { class: 'notice error', text: explain(e) }));
    }
  }

  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      const page = await api(`/tasks?limit=${PAGE}${stateParam}&cursor=${encodeURIComponent(older)}`);
      const known = new Set(list.map((t) => t.id));
      list = list.concat(page.tasks.filter((t) => !known.has(t.id)));
      older = page.next;
      loadedOlder = true;
      render();
    } catch (e) {
      fill(error, h('p', { class: 'notice error', text: explain(e) }));
    } finally {
      more.disabled = false;
    }
  });
  select.addEventListener('change', () => {
    const params = new URLSearchParams();
    if (select.value) params.set('state', select.value);
    if (needle) params.set('q', needle);
    location.hash = `#/tasks${params.toString() ? `?${params}` : ''}`;
  });
  search.addEventListener('input', () => {
    needle = search.value.trim();
    setHash();
    render();
  });

  const loop = poller(refreshNewest, 2000);
  return () => loop.stop();
}
