// Workers: id, labels, slots used / total, draining, connected since, last seen; an operator may drain one.
import { api, explain, session } from '../api.js';
import { ago, confirmDialog, exact, exactAndAgo, fill, h, labelChips, toast } from '../dom.js';
import * as stats from '../stats.js';

function stateOf(w) {
  if (w.draining) return h('span', { class: 'badge b-warn', title: w.drainReason || '', text: 'DRAINING' });
  if (w.running >= w.slots) return h('span', { class: 'badge b-info', text: 'BUSY' });
  return h('span', { class: 'badge b-ok', text: 'READY' });
}

export function workers(main) {
  document.title = 'Workers · Taskgrid';
  const operator = session.can('operator');
  const body = h('tbody');
  const error = h('div', { role: 'alert' });
  const summary = h('span', { class: 'aside', id: 'workers-summary' });
  fill(main,
    h('div', { class: 'page-head' }, h('h1', { text: 'Workers' }),
      h('p', { class: 'sub', text: 'The agents connected to this master right now. A drained worker takes no new task; '
        + 'what it runs finishes. The drain lasts until its agent reconnects.' })),
    error,
    h('section', { class: 'panel' }, h('h2', null, 'Connected', summary),
      h('div', { class: 'table-wrap' }, h('table', { id: 'workers' },
        h('thead', null, h('tr', null,
          h('th', { text: 'Worker' }), h('th', { text: 'State' }), h('th', { text: 'Slots used / total' }),
          h('th', { class: 'opt', text: 'Labels' }), h('th', { class: 'opt', text: 'Connected since' }),
          h('th', { text: 'Last seen' }), h('th', { class: 'opt num', text: 'Refused' }),
          operator ? h('th', null, h('span', { class: 'visually-hidden', text: 'Actions' })) : null)),
        body))));

  async function drain(w, button) {
    const ok = await confirmDialog(`Drain ${w.id}?`, `${w.id} will take no new task; the ${w.running} it runs now finish `
      + 'and are reported. The drain lasts until its agent reconnects.', `Drain ${w.id}`);
    if (!ok) {
      button.focus();
      return;
    }
    button.disabled = true;
    try {
      await api(`/workers/${encodeURIComponent(w.id)}/drain`, { method: 'POST' });
      toast(`${w.id} is draining.`);
      stats.refresh();
    } catch (e) {
      button.disabled = false;
      fill(error, h('p', { class: 'notice error', text: `Could not drain ${w.id}: ${explain(e)}` }));
    }
  }

  const unsubscribe = stats.subscribe((now) => {
    if (now.error && now.error.kind !== 'offline') {
      fill(error, h('p', { class: 'notice error', text: explain(now.error) }));
    } else {
      fill(error);
    }
    if (!now.workers) return;
    const list = [...(now.workers.workers || [])].sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }));
    const used = list.reduce((n, w) => n + w.running, 0);
    const total = list.reduce((n, w) => n + w.slots, 0);
    summary.textContent = `${list.length} connected, ${used} of ${total} slots busy`;
    const focused = document.activeElement?.dataset?.worker;
    fill(body, list.length === 0
      ? h('tr', null, h('td', { colspan: '8', class: 'empty', text: 'No worker is connected. Start an agent (see the README, Worker agent).' }))
      : list.map((w) => {
        const button = operator ? h('button', {
          type: 'button', class: 'btn btn-small', 'data-worker': w.id, disabled: w.draining,
          'aria-label': `Drain ${w.id}`, text: w.draining ? 'Draining' : 'Drain',
        }) : null;
        button?.addEventListener('click', () => drain(w, button));
        return h('tr', { 'data-worker-row': w.id },
          h('td', { class: 'mono', text: w.id }),
          h('td', null, stateOf(w), w.draining && w.drainReason ? h('div', { class: 'rel', text: w.drainReason }) : null),
          h('td', null, h('span', { class: 'slots' },
            h('span', { class: 'bar', 'aria-hidden': 'true' }, barFill(w)),
            h('span', { text: `${w.running} / ${w.slots}` }))),
          h('td', { class: 'opt' }, 'labels' in w ? labelChips(w.labels) : h('span', { class: 'muted', text: '—' })),
          h('td', { class: 'opt nowrap' }, exactAndAgo(w.connectedAt)),
          h('td', { class: 'nowrap' }, h('span', { title: w.lastSeenAt || '' }, w.lastSeenAt ? ago(w.lastSeenAt) : '—'),
            h('div', { class: 'rel' }, exact(w.lastSeenAt))),
          h('td', { class: 'opt num', text: String(w.refused ?? 0) }),
          operator ? h('td', null, button) : null);
      }));
    if (focused) body.querySelector(`[data-worker="${CSS.escape(focused)}"]`)?.focus();
  });
  return unsubscribe;
}

function barFill(w) {
  const span = h('span');
  span.style.width = `${w.slots ? Math.min(100, (w.running / w.slots) * 100) : 0}%`;
  return span;
}
