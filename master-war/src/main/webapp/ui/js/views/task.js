// One task: its fields, every attempt with exact times, its output (followed live when the master streams it,
// otherwise refreshed), cancel, and submit again with the same fields.
import { api, ApiError, explain, session } from '../api.js';
import { between, bytes, confirmDialog, duration, exact, exactAndAgo, FINAL, fill, h, labelChips, poller, stateBadge, toast } from '../dom.js';
import { LogView } from '../logview.js';
import { followEvents } from '../sse.js';
import { PREFILL_KEY } from './submit.js';

export function task(main, { id }) {
  document.title = `Task ${id.slice(0, 8)} · Taskgrid`;
  const controller = new AbortController();
  let current = null;
  let ended = false;

  const heading = h('h1', null, 'Task ', h('span', { class: 'mono', text: id }));
  const badge = h('span', { id: 'task-state' });
  const actions = h('div', { class: 'form-actions' });
  const error = h('div', { role: 'alert', id: 'task-error' });
  const fields = h('dl', { class: 'fields', id: 'task-fields' });
  const attemptsBody = h('tbody');
  const stdout = new LogView('Standard output');
  const stderr = new LogView('Standard error');
  stdout.el.id = 'stdout';
  stderr.el.id = 'stderr';
  stderr.el.hidden = true;
  const outStatus = h('p', { class: 'out-status', id: 'output-status', 'aria-live': 'polite' });
  const tabOut = h('button', { type: 'button', role: 'tab', id: 'tab-stdout', 'aria-selected': 'true', 'aria-controls': 'stdout', text: 'stdout' });
  const tabErr = h('button', { type: 'button', role: 'tab', id: 'tab-stderr', 'aria-selected': 'false', 'aria-controls': 'stderr', tabindex: '-1', text: 'stderr' });
  const followBox = h('input', { type: 'checkbox', id: 'follow', checked: true });
  const select = (which) => {
    const out = which === 'stdout';
    tabOut.setAttribute('aria-selected', String(out));
    tabErr.setAttribute('aria-selected', String(!out));
    tabOut.tabIndex = out ? 0 : -1;
    tabErr.tabIndex = out ? -1 : 0;
    stdout.el.hidden = !out;
    stderr.el.hidden = out;
    (out ? stdout : stderr).schedule();
  };
  tabOut.addEventListener('click', () => select('stdout'));
  tabErr.addEventListener('click', () => select('stderr'));
  [tabOut, tabErr].forEach((tab) => tab.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      const next = tab === tabOut ? tabErr : tabOut;
      next.click();
      next.focus();
    }
  }));
  followBox.addEventListener('change', () => {
    for (const view of [stdout, stderr]) {
      view.follow = followBox.checked;
      view.schedule();
    }
  });

  fill(main,
    h('div', { class: 'page-head' }, heading, badge, actions),
    error,
    h('section', { class: 'panel', 'aria-label': 'Fields' }, fields),
    h('section', { class: 'panel', 'aria-labelledby': 'output-title' },
      h('h2', { id: 'output-title', text: 'Output' }),
      h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Output stream' }, tabOut, tabErr, h('span', { class: 'spacer' }),
        h('label', { class: 'small', for: 'follow' }, followBox, ' Follow the end')),
      stdout.el, stderr.el, outStatus),
    h('section', { class: 'panel', 'aria-labelledby': 'attempts-title' },
      h('h2', { id: 'attempts-title', text: 'Attempts' }),
      h('div', { class: 'table-wrap' }, h('table', { id: 'attempts' },
        h('thead', null, h('tr', null, h('th', { class: 'num', text: '#' }), h('th', { text: 'Worker' }),
          h('th', { text: 'Assigned' }), h('th', { text: 'Started' }), h('th', { text: 'Ended' }),
          h('th', { text: 'Outcome' }), h('th', { text: 'Reason' }), h('th', { class: 'opt', text: 'Attempt id' }))),
        attemptsBody))));

  function renderActions(t) {
    const mine = t.submittedBy && session.me && t.submittedBy === session.me.name;
    const mayCancel = !FINAL.has(t.state) && (session.can('operator') || (session.can('submitter') && mine));
    const cancel = mayCancel ? h('button', { type: 'button', class: 'btn btn-danger', id: 'cancel',
      disabled: t.cancelRequested, text: t.cancelRequested ? 'Cancelling…' : 'Cancel task' }) : null;
    cancel?.addEventListener('click', async () => {
      const ok = await confirmDialog('Cancel this task?', t.state === 'QUEUED'
        ? 'It has not started; it will not run.'
        : 'Its agent stops the whole process tree (TERM, then KILL after the grace period).', 'Cancel task');
      if (!ok) return;
      cancel.disabled = true;
      try {
        const answer = await api(`/tasks/${id}`, { method: 'DELETE' });
        toast(answer.state === 'CANCELLED' ? 'Task cancelled.' : 'Cancel requested; the agent is stopping it.');
        loop.now();
      } catch (e) {
        cancel.disabled = false;
        fill(error, h('p', { class: 'notice error', text: `Could not cancel: ${explain(e)}` }));
      }
    });
    const again = session.can('submitter') ? h('button', { type: 'button', class: 'btn', id: 'submit-again', text: 'Submit again' }) : null;
    again?.addEventListener('click', () => {
      const spec = { cmd: t.cmd };
      for (const key of ['env', 'cwd', 'timeoutSeconds', 'retries', 'maxAttempts', 'priority', 'requires']) {
        if (t[key] != null) spec[key] = t[key];
      }
      sessionStorage.setItem(PREFILL_KEY, JSON.stringify(spec));
      location.hash = '#/submit';
    });
    const focused = document.activeElement?.id;
    fill(actions, again, cancel);
    if (focused && actions.querySelector(`#${focused}`)) actions.querySelector(`#${focused}`).focus();
  }

  function row(label, value) {
    return [h('dt', { text: label }), h('dd', null, value)];
  }

  function renderFields(t) {
    const took = t.startedAt ? duration(between(t.startedAt, t.finishedAt)) : null;
    const env = t.env && Object.keys(t.env).length ? labelChips(t.env) : h('span', { class: 'muted', text: 'none' });
    fill(fields,
      row('Command', h('pre', { class: 'cmdline', id: 'task-cmd', text: t.cmd })),
      row('State', h('span', null, stateBadge(t.state), t.cancelRequested && t.state !== 'CANCELLED' ? ' cancel requested' : '')),
      t.waiting ? row('Waiting', h('span', { id: 'task-waiting', text: t.waiting })) : null,
      t.reason ? row('Reason', h('span', { id: 'task-reason', text: t.reason })) : null,
      row('Exit code', h('span', { id: 'task-exit', class: 'mono', text: t.exitCode == null ? '—' : String(t.exitCode) })),
      row('Worker', t.workerId || '—'),
      row('Submitted', exactAndAgo(t.submittedAt)),
      row('Submitted by', t.submittedBy || '—'),
      t.cancelledBy ? row('Cancelled by', h('span', { id: 'task-cancelled-by', text: t.cancelledBy })) : null,
      row('Started', exact(t.startedAt)),
      row('Finished', exact(t.finishedAt)),
      row(t.finishedAt ? 'Took' : 'Running for', took || '—'),
      row('Timeout', t.timeoutSeconds == null ? 'none' : `${t.timeoutSeconds} s`),
      row('Retries', `${t.retries ?? 0} on a non-zero exit`),
      row('Max attempts', String(t.maxAttempts ?? '—')),
      'priority' in t ? row('Priority', String(t.priority)) : null,
      'requires' in t ? row('Requires labels', labelChips(t.requires)) : null,
      row('Working directory', t.cwd ? h('span', { class: 'mono', text: t.cwd }) : 'the agent\'s'),
      row('Environment', env));
    const attempts = t.attempts || [];
    fill(attemptsBody, attempts.length === 0
      ? h('tr', null, h('td', { colspan: '8', class: 'empty', text: 'Not dispatched yet.' }))
      : attempts.map((a, i) => h('tr', null,
        h('td', { class: 'num', text: String(i + 1) }),
        h('td', { class: 'mono', text: a.workerId }),
        h('td', { class: 'nowrap' }, exact(a.assignedAt)),
        h('td', { class: 'nowrap' }, exact(a.startedAt)),
        h('td', { class: 'nowrap' }, exact(a.endedAt)),
        h('td', null, a.outcome ? stateBadge(a.outcome) : h('span', { class: 'muted', text: 'in flight' })),
        h('td', { text: a.reason || '—' }),
        h('td', { class: 'opt mono small', title: a.id, text: a.id.slice(0, 8) }))));
  }

  // ---- output ----
  let live = null; // null: not tried yet; true: following; false: the master has no live output
  let lastEventId = null;
  let plainShown = { stdout: -1, stderr: -1 };

  function outputSummary(t, streaming) {
    const what = `${stdout.lineCount()} lines on stdout (${bytes(stdout.chars)}), ${stderr.lineCount()} on stderr`;
    if (!t) return what;
    if (!FINAL.has(t.state)) {
      if (streaming) return `Following live output… ${what}`;
      if (t.state === 'QUEUED') return 'Waiting for a worker; output appears once it runs.';
      return `Running. This master streams no live output, so output is refreshed every 2 s (and complete when the task ends). ${what}`;
    }
    const cut = [t.stdoutTruncated && 'stdout', t.stderrTruncated && 'stderr'].filter(Boolean);
    return `${what}.${cut.length ? ` The command printed more than the master keeps; ${cut.join(' and ')} was cut.` : ''}`;
  }

  async function follow() {
    live = true;
    for (let delay = 1000; !controller.signal.aborted; delay = Math.min(delay * 2, 10000)) {
      try {
        let finished = false;
        await followEvents(`/tasks/${id}/output?stream=both&follow=true`, {
          signal: controller.signal,
          lastEventId,
          onEvent(event) {
            delay = 1000;
            if (event.id) lastEventId = event.id;
            let data = null;
            try { data = JSON.parse(event.data); } catch (e) { data = { text: event.data }; }
            if (event.type === 'output' || event.type === 'message') {
              const view = String(data.stream || 'stdout').toLowerCase() === 'stderr' ? stderr : stdout;
              view.append(data.text ?? '');
            } else if (event.type === 'dropped') {
              const view = String(data.stream || 'stdout').toLowerCase() === 'stderr' ? stderr : stdout;
              view.append(`\n[${data.bytes ?? 'some'} bytes were dropped here]\n`);
            } else if (event.type === 'attempt') {
              stdout.clear();
              stderr.clear();
              stdout.append('\x1b[2m[the task runs again: a new attempt, its output from the start]\x1b[0m\n');
            } else if (event.type === 'end') {
              finished = true;
            }
            outStatus.textContent = outputSummary(current, true);
          },
        });
        if (finished || (current && FINAL.has(current.state))) break;
      } catch (e) {
        if (e.name === 'AbortError') return;
        if (e.notAStream || (e instanceof ApiError && [400, 404, 406, 429, 503].includes(e.status))) {
          // No live output here (or no room for another follower, or this caller follows as often as it may):
          // read it plainly instead.
          live = false;
          if (current) {
            await refreshPlain(current);
            outStatus.textContent = outputSummary(current, false);
          }
          return;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    outStatus.textContent = outputSummary(current, false);
  }

  async function refreshPlain(t) {
    if (FINAL.has(t.state)) {
      // The whole task has it; only set it when it changed, so the reader's scroll position stays.
      if (plainShown.stdout !== (t.stdout || '').length) {
        stdout.setText(t.stdout || '');
        plainShown.stdout = (t.stdout || '').length;
      }
      if (plainShown.stderr !== (t.stderr || '').length) {
        stderr.setText(t.stderr || '');
        plainShown.stderr = (t.stderr || '').length;
      }
      return;
    }
    if (t.state !== 'RUNNING') return;
    for (const [name, view] of [['stdout', stdout], ['stderr', stderr]]) {
      try {
        const text = await api(`/tasks/${id}/output?stream=${name}`, { headers: { Accept: 'text/plain' }, signal: controller.signal });
        if (typeof text === 'string' && text.length !== plainShown[name]) {
          view.setText(text);
          plainShown[name] = text.length;
        }
      } catch (e) {
        // looked at again on the next round
      }
    }
  }

  const loop = poller(async () => {
    try {
      const t = await api(`/tasks/${id}`, { signal: controller.signal });
      current = t;
      fill(error);
      fill(badge, stateBadge(t.state));
      renderActions(t);
      renderFields(t);
      if (live === null && t.state !== 'QUEUED') follow();
      if (live === false) await refreshPlain(t);
      stdout.setEmptyText(t.state === 'QUEUED' || t.state === 'ASSIGNED' ? 'Not started yet.' : FINAL.has(t.state) ? 'No output.' : 'No output yet.');
      stderr.setEmptyText(FINAL.has(t.state) ? 'Nothing on stderr.' : 'Nothing on stderr yet.');
      outStatus.textContent = outputSummary(t, live === true);
      if (FINAL.has(t.state)) {
        ended = true;
      }
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (e instanceof ApiError && e.status === 404) {
        fill(error, h('p', { class: 'notice error', text: `There is no task ${id} on this master.` }));
        ended = true;
      } else if (e.kind !== 'offline') {
        fill(error, h('p', { class: 'notice error', text: explain(e) }));
      }
    }
  }, () => (ended ? 60000 : 1000));

  return () => {
    controller.abort();
    loop.stop();
  };
}
