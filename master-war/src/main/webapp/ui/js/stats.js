// What the overview and the workers page show, looked at every 2 s while the tab is visible: counts by state and the
// workers. Keeps the last minutes of samples for the charts (throughput is the change of finished tasks per second).
import { api, ApiError } from './api.js';
import { FINAL, poller } from './dom.js';

export const WINDOW_MS = 5 * 60 * 1000;
const INTERVAL_MS = 2000;

const SAMPLES_KEY = 'taskgrid.samples';
const subscribers = new Set();
// Kept in the tab's sessionStorage too, so that a reload keeps the charts' last minutes.
const samples = (() => {
  try {
    const kept = JSON.parse(sessionStorage.getItem(SAMPLES_KEY) || '[]');
    return Array.isArray(kept) ? kept.filter((x) => x && x.t > Date.now() - WINDOW_MS) : [];
  } catch (e) {
    return [];
  }
})();
let latest = { counts: null, workers: null, error: null };
let loop = null;

// Tasks ended since the master started: it only grows (the counts by state fall when retention deletes old tasks);
// after a restart it starts again from 0, which the rate below treats as no sample.
function finishedTotal(counts) {
  if (typeof counts.endedSinceStart === 'number') return counts.endedSinceStart;
  return Object.entries(counts.counts || {}).reduce((sum, [state, n]) => (FINAL.has(state) ? sum + n : sum), 0);
}

// GET /workers answers a page at a time; the overview and the workers page show every worker, so every page is read
// (one, up to 1,000 workers: the master's default taskgrid.workers.max).
async function allWorkers() {
  const first = await api('/workers?limit=1000');
  const workers = [...(first.workers || [])];
  let next = first.next;
  for (let pages = 1; next && pages < 100; pages++) {
    const page = await api(`/workers?limit=1000&cursor=${encodeURIComponent(next)}`);
    workers.push(...(page.workers || []));
    next = page.next;
  }
  return { count: first.count, workers };
}

async function look() {
  const [counts, workers] = await Promise.allSettled([api('/tasks/counts'), allWorkers()]);
  const error = [counts, workers].find((r) => r.status === 'rejected')?.reason || null;
  const now = Date.now();
  if (counts.status === 'fulfilled') {
    const c = counts.value;
    const previous = samples.length ? samples[samples.length - 1] : null;
    const finished = finishedTotal(c);
    let rate = null;
    if (previous && previous.finished != null && now > previous.t) {
      rate = finished >= previous.finished ? (finished - previous.finished) / ((now - previous.t) / 1000) : null;
    }
    samples.push({ t: now, finished, rate, queued: c.queued ?? c.counts?.QUEUED ?? 0 });
    while (samples.length && samples[0].t < now - WINDOW_MS - 10000) samples.shift();
    try {
      sessionStorage.setItem(SAMPLES_KEY, JSON.stringify(samples));
    } catch (e) {
      // storage full or off: the charts just start afresh after a reload
    }
  }
  latest = {
    counts: counts.status === 'fulfilled' ? counts.value : latest.counts,
    workers: workers.status === 'fulfilled' ? workers.value : latest.workers,
    error: error instanceof ApiError || error instanceof Error ? error : null,
    at: now,
  };
  subscribers.forEach((fn) => fn(latest, samples));
}

export function subscribe(fn) {
  subscribers.add(fn);
  if (latest.at) fn(latest, samples);
  if (!loop) loop = poller(look, INTERVAL_MS);
  else loop.now();
  return () => subscribers.delete(fn);
}

/** Looks again at once (after a drain, say). */
export function refresh() {
  loop?.now();
}

export function stop() {
  loop?.stop();
  loop = null;
  samples.length = 0;
  sessionStorage.removeItem(SAMPLES_KEY);
  latest = { counts: null, workers: null, error: null };
}
