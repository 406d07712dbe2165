// Overview: counts by state, queue depth, workers and busy slots, live charts of throughput and queue depth, and the
// latest tasks.
import { api, explain } from '../api.js';
import { LineChart } from '../chart.js';
import { between, duration, exact, fill, h, poller, STATES, stateBadge } from '../dom.js';
import * as stats from '../stats.js';

function card(label, id) {
  const value = h('div', { class: 'value', id, text: '—' });
  const detail = h('div', { class: 'detail' });
  return { el: h('div', { class: 'card' }, h('div', { class: 'label', text: label }), value, detail), value, detail };
}

export function overview(main) {
  document.title = 'Overview · Taskgrid';
  const queue = card('Queue depth', 'queue-depth');
  const workersCard = card('Workers connected', 'workers-connected');
  const slots = card('Busy slots', 'busy-slots');
  const rate = card('Finished per second', 'throughput');
  const stateList = h('ul', { class: 'states', id: 'state-counts' });
  const error = h('div', { role: 'alert' });
  const throughput = new LineChart({ title: 'Tasks finished per second', tone: 'c1', windowMs: stats.WINDOW_MS,
    format: (v) => `${v < 10 ? v.toFixed(1) : Math.round(v)}/s` });
  const depth = new LineChart({ title: 'Queue depth', tone: 'c2', windowMs: stats.WINDOW_MS,
    format: (v) => `${Math.round(v)}` });
  const latestBody = h('tbody');
  const latest = h('div', { class: 'panel' },
    h('h2', null, 'Latest tasks', h('a', { class: 'aside', href: '#/tasks', text: 'All tasks →' })),
    h('div', { class: 'table-wrap' }, h('table', { id: 'latest-tasks' },
      h('thead', null, h('tr', null, h('th', { text: 'State' }), h('th', { text: 'Command' }),
        h('th', { class: 'opt', text: 'Worker' }), h('th', { class: 'opt', text: 'Submitted' }),
        h('th', { class: 'num', text: 'Took' }))),
      latestBody)));

  fill(main,
    h('div', { class: 'page-head' }, h('h1', { text: 'Overview' })),
    error,
    h('div', { class: 'grid cards' }, queue.el, workersCard.el, slots.el, rate.el),
    h('section', { class: 'panel', 'aria-labelledby': 'counts-title' },
      h('h2', { id: 'counts-title' }, 'Tasks by state', h('span', { class: 'aside', id: 'counts-total' })), stateList),
    h('section', { class: 'panel', 'aria-label': 'Charts' }, h('div', { class: 'grid charts' }, throughput.el, depth.el)),
    latest);

  const unsubscribe = stats.subscribe((now, samples) => {
    fill(error, now.error && now.error.kind !== 'offline' ? h('p', { class: 'notice error', text: explain(now.error) }) : null);
    if (now.counts) {
      const c = now.counts;
      queue.value.textContent = String(c.queued ?? c.counts.QUEUED ?? 0);
      queue.detail.textContent = `${c.counts.QUEUED ?? 0} queued, ${(c.counts.ASSIGNED ?? 0) + (c.counts.RUNNING ?? 0)} in flight`;
      fill(stateList, STATES.filter((s) => s in c.counts).map((s) => h('li', null,
        h('a', { href: `#/tasks?state=${s}`, 'data-state': s }, stateBadge(s), h('span', { class: 'n', text: String(c.counts[s]) })))));
      document.getElementById('counts-total').textContent = `${c.total} in all`;
    }
    if (now.workers) {
      const list = now.workers.workers || [];
      const total = list.reduce((n, w) => n + w.slots, 0);
      const used = list.reduce((n, w) => n + w.running, 0);
      const draining = list.filter((w) => w.draining).length;
      workersCard.value.textContent = String(now.workers.count ?? list.length);
      workersCard.detail.textContent = draining ? `${draining} draining` : 'none draining';
      slots.value.textContent = `${used} / ${total}`;
      slots.detail.textContent = total ? `${Math.round((used / total) * 100)} % busy` : 'no worker connected';
    }
    const recent = samples.filter((s) => s.rate != null).slice(-5);
    rate.value.textContent = recent.length ? (recent.reduce((n, s) => n + s.rate, 0) / recent.length).toFixed(1) : '—';
    rate.detail.textContent = 'average of the last 10 s';
    throughput.update(samples.map((s) => ({ t: s.t, v: s.rate })));
    depth.update(samples.map((s) => ({ t: s.t, v: s.queued })));
  });

  const latestLoop = poller(async () => {
    try {
      const page = await api('/tasks?limit=8');
      fill(latestBody, page.tasks.length === 0
        ? h('tr', null, h('td', { colspan: '5', class: 'empty', text: 'No tasks yet.' }))
        : page.tasks.map((t) => h('tr', null,
          h('td', null, stateBadge(t.state)),
          h('td', { class: 'cmd' }, h('a', { href: `#/tasks/${t.id}`, title: t.cmd, text: t.cmd })),
          h('td', { class: 'opt', text: t.workerId || '—' }),
          h('td', { class: 'opt nowrap' }, exact(t.submittedAt)),
          h('td', { class: 'num', text: t.startedAt ? duration(between(t.startedAt, t.finishedAt)) : '—' }))));
    } catch (e) {
      // the banner or the error above says why
    }
  }, 3000);

  return () => {
    unsubscribe();
    latestLoop.stop();
  };
}
