// The REST API as the dashboard calls it: the same endpoints, token and roles as curl. The token lives in this tab's
// sessionStorage only and goes out only in the Authorization header, to this origin.

const TOKEN_KEY = 'taskgrid.token';
const BASE = new URL('../', document.baseURI);

export const session = {
  token: sessionStorage.getItem(TOKEN_KEY),
  me: null,
  /** What this master offers beyond the base API, learnt from its answers (null: not known yet). */
  features: { liveOutput: null, routing: null },
  can(role) {
    return !!this.me && Array.isArray(this.me.roles) && this.me.roles.includes(role);
  },
};

export function setToken(token) {
  session.token = token;
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function apiUrl(path) {
  return new URL(path.replace(/^\//, ''), BASE).toString();
}

/** A refusal or failure, with the API's problem+json detail when it sent one. kind: offline|auth|forbidden|busy|client|server */
export class ApiError extends Error {
  constructor(status, kind, message, problem, retryAfter) {
    super(message);
    this.status = status;
    this.kind = kind;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

// ---- whether the master answers; the banner listens ----
const listeners = new Set();
let reachable = { ok: true, why: null };
export function onReachability(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
function setReachable(ok, why) {
  if (reachable.ok === ok && reachable.why === why) return;
  reachable = { ok, why };
  listeners.forEach((fn) => fn(reachable));
}
export const isReachable = () => reachable.ok;

let onUnauthorized = () => {};
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

function isApiAnswer(response) {
  const type = response.headers.get('Content-Type') || '';
  return type.includes('json') || type.startsWith('text/plain') || type.startsWith('text/event-stream');
}

/**
 * Calls the API. Resolves with the parsed JSON (or the Response when raw); rejects with an ApiError. A network
 * failure, or an answer that is not the API's (a proxy's 502, the server's page while the application starts),
 * marks the master unreachable until a later call succeeds.
 */
export async function api(path, options = {}) {
  const { method = 'GET', body, headers = {}, signal, raw = false, token = session.token, quiet = false } = options;
  const sent = { Accept: 'application/json', ...headers };
  if (token) sent.Authorization = `Bearer ${token}`;
  if (body !== undefined) sent['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(apiUrl(path), {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
      credentials: 'omit',
      redirect: 'error',
      referrerPolicy: 'no-referrer',
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    setReachable(false, 'unreachable');
    throw new ApiError(0, 'offline', 'The master does not answer. Retrying…');
  }
  if (!isApiAnswer(response) && (response.status >= 500 || response.status === 404)) {
    setReachable(false, response.status === 404 ? 'starting' : 'unavailable');
    throw new ApiError(response.status, 'offline', `The master is not serving the API (HTTP ${response.status}); retrying…`);
  }
  setReachable(true, null);
  if (response.ok) {
    if (raw) return response;
    if (response.status === 204) return null;
    const type = response.headers.get('Content-Type') || '';
    return type.includes('json') ? response.json() : response.text();
  }
  let problem = null;
  try {
    problem = await response.json();
  } catch (e) {
    problem = null;
  }
  const detail = (problem && (problem.detail || problem.title)) || `HTTP ${response.status}`;
  const retryAfter = Number(response.headers.get('Retry-After')) || null;
  if (response.status === 401) {
    if (!quiet) onUnauthorized(detail);
    throw new ApiError(401, 'auth', detail, problem);
  }
  if (response.status === 403) throw new ApiError(403, 'forbidden', detail, problem);
  if (response.status === 503) throw new ApiError(503, 'busy', detail, problem, retryAfter);
  throw new ApiError(response.status, response.status >= 500 ? 'server' : 'client', detail, problem, retryAfter);
}

/** A message for a person, for any failure of api(). */
export function explain(error) {
  if (!(error instanceof ApiError)) return `Something went wrong in the page: ${error && error.message}`;
  switch (error.kind) {
    case 'offline': return error.message;
    case 'auth': return `Not signed in: ${error.message}`;
    case 'forbidden': return `Not allowed: ${error.message}`;
    case 'busy': return `The master is busy: ${error.message}${error.retryAfter ? ` (retry in ${error.retryAfter} s)` : ''}`;
    default: return error.message;
  }
}
