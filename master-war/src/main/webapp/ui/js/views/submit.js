// Submit form: the fields of POST /tasks; the API validates, and its 400 is shown next to the field it names.
import { api, ApiError, explain, session } from '../api.js';
import { fill, h, toast } from '../dom.js';

export const PREFILL_KEY = 'taskgrid.prefill';

const FIELDS = ['cmd', 'env', 'secretEnv', 'cwd', 'timeoutSeconds', 'retries', 'maxAttempts', 'priority', 'requires'];

/** Which field a problem's detail names: "'cmd' must not be blank", "'env.X' ...", "unknown field 'priority'". */
export function fieldOf(detail) {
  if (!detail) return null;
  if (/is in both env and secretEnv/.test(detail)) return 'secretEnv';
  const unknown = /unknown field '([A-Za-z]+)'/.exec(detail);
  if (unknown) return FIELDS.includes(unknown[1]) ? unknown[1] : null;
  const named = /^'([A-Za-z]+)[.' ]/.exec(detail);
  return named && FIELDS.includes(named[1]) ? named[1] : null;
}

function pairs(text, what) {
  const out = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`line ${i + 1}: write ${what} as NAME=value`);
    out[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return out;
}

const asLines = (object) => Object.entries(object || {}).map(([k, v]) => `${k}=${v}`).join('\n');

export function submit(main) {
  document.title = 'Submit · Taskgrid';
  if (!session.can('submitter')) {
    fill(main, h('div', { class: 'page-head' }, h('h1', { text: 'Submit a task' })),
      h('p', { class: 'notice warn', id: 'not-allowed', text: `Your token's role (${session.me.role}) may look at tasks and `
        + 'workers but not submit. Submitting needs a submitter or operator token.' }));
    return null;
  }
  let key = crypto.randomUUID();
  const inputs = {};
  const errors = {};
  const formError = h('div', { role: 'alert', id: 'form-error' });

  function field(name, label, control, hint, wide = true) {
    control.id = `f-${name}`;
    control.name = name;
    const error = h('p', { class: 'field-error', id: `f-${name}-error` });
    control.setAttribute('aria-describedby', `f-${name}-hint f-${name}-error`);
    inputs[name] = control;
    errors[name] = error;
    return h('div', { class: `field${wide ? '' : ' narrow'}`, 'data-field': name },
      h('label', { for: control.id, text: label }), control, h('p', { class: 'hint', id: `f-${name}-hint`, text: hint }), error);
  }
  const number = (min, max, placeholder) => h('input', { type: 'number', inputmode: 'numeric', min, max, step: '1', placeholder });

  const routing = h('div', { class: 'form-grid', id: 'routing-fields' },
    field('priority', 'Priority', number(0, 9, '5'), '0 to 9; higher runs first (default 5).', false),
    field('requires', 'Required worker labels', h('textarea', { rows: '2', placeholder: 'gpu=true' }),
      'key=value per line; only workers with all of them run it.'));
  const button = h('button', { type: 'submit', class: 'btn btn-primary', id: 'submit', text: 'Submit task' });
  const form = h('form', { class: 'panel', id: 'submit-form', novalidate: true },
    field('cmd', 'Command', h('textarea', { rows: '3', required: true, spellcheck: 'false', placeholder: 'echo hello world' }),
      'Run as /bin/sh -c <command> on one worker.'),
    h('div', { class: 'form-grid' },
      field('timeoutSeconds', 'Timeout (seconds)', number(1, 604800, 'none'), '1 to 604800; past it the process tree is stopped.', false),
      field('retries', 'Retries', number(0, 100, '0'), 'Runs again after a non-zero exit, 0 to 100.', false),
      field('maxAttempts', 'Max attempts', number(1, 100, '3'), 'Hand-outs when workers are lost, 1 to 100.', false)),
    field('cwd', 'Working directory', h('input', { type: 'text', spellcheck: 'false', placeholder: '/srv/app' }),
      'An absolute path on the agent; empty: the agent\'s own.'),
    h('div', { class: 'form-grid' },
      field('env', 'Environment', h('textarea', { rows: '3', spellcheck: 'false', placeholder: 'NAME=value' }),
        'NAME=value per line; added to the agent\'s environment.'),
      field('secretEnv', 'Secret environment', h('textarea', { rows: '3', spellcheck: 'false', placeholder: 'TOKEN=…' }),
        'Like environment, but never shown again by the API, never logged, stored sealed.')),
    routing,
    formError,
    h('div', { class: 'form-actions' }, button, h('span', { class: 'muted small', text: 'Submitted under your token\'s name.' })));

  fill(main, h('div', { class: 'page-head' }, h('h1', { text: 'Submit a task' })), form);

  // Labels and priority exist on masters with routing; hide them where the workers show no labels.
  if (session.features.routing === false) routing.hidden = true;
  api('/workers').then((w) => {
    const list = w.workers || [];
    if (list.length) session.features.routing = list.some((x) => 'labels' in x);
    routing.hidden = session.features.routing === false;
  }).catch(() => {});

  const prefill = sessionStorage.getItem(PREFILL_KEY);
  if (prefill) {
    sessionStorage.removeItem(PREFILL_KEY);
    try {
      const spec = JSON.parse(prefill);
      inputs.cmd.value = spec.cmd ?? '';
      inputs.env.value = asLines(spec.env);
      inputs.requires.value = asLines(spec.requires);
      for (const name of ['cwd', 'timeoutSeconds', 'retries', 'maxAttempts', 'priority']) {
        if (spec[name] != null) inputs[name].value = String(spec[name]);
      }
      formError.replaceChildren(h('p', { class: 'notice info', text: 'The fields of the earlier task are filled in. '
        + 'Its secret environment is not: the API never returns it.' }));
    } catch (e) {
      // an unreadable prefill is ignored
    }
  }
  inputs.cmd.focus();

  const clearErrors = () => {
    for (const name of FIELDS) {
      errors[name].textContent = '';
      inputs[name].removeAttribute('aria-invalid');
    }
    fill(formError);
  };
  const showError = (name, message) => {
    errors[name].textContent = message;
    inputs[name].setAttribute('aria-invalid', 'true');
  };
  form.addEventListener('input', () => {
    key = crypto.randomUUID();
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors();
    const body = { cmd: inputs.cmd.value };
    let firstBad = null;
    const bad = (name, message) => {
      showError(name, message);
      firstBad = firstBad || name;
    };
    for (const name of ['timeoutSeconds', 'retries', 'maxAttempts', 'priority']) {
      const input = inputs[name];
      if (input.validity.badInput) bad(name, `'${name}' must be a whole number`);
      else if (input.value.trim() !== '' && !(routing.hidden && name === 'priority')) body[name] = Number(input.value);
    }
    if (inputs.cwd.value.trim()) body.cwd = inputs.cwd.value.trim();
    for (const [name, what] of [['env', 'variables'], ['secretEnv', 'variables'], ['requires', 'labels']]) {
      if (name === 'requires' && routing.hidden) continue;
      try {
        const parsed = pairs(inputs[name].value, what);
        if (Object.keys(parsed).length) body[name] = parsed;
      } catch (e) {
        bad(name, e.message);
      }
    }
    if (firstBad) {
      inputs[firstBad].focus();
      return;
    }
    button.disabled = true;
    try {
      const created = await api('/tasks', { method: 'POST', body, headers: { 'Idempotency-Key': key } });
      key = crypto.randomUUID();
      toast('Task submitted.');
      location.hash = `#/tasks/${created.id}`;
    } catch (e) {
      const name = e instanceof ApiError && (e.status === 400 || e.status === 422) ? fieldOf(e.message) : null;
      if (name) {
        const unknown = /unknown field/.test(e.message);
        showError(name, unknown ? `This master does not take '${name}' (it predates that feature): leave it empty.` : e.message);
        inputs[name].focus();
      } else {
        fill(formError, h('p', { class: 'notice error', text: `Not submitted: ${explain(e)}` }));
      }
    } finally {
      button.disabled = false;
    }
  });
  return null;
}
