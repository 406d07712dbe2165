package io.taskgrid.agent;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Stops what ended commands left running in their sessions, with one look at /proc per interval for all of them,
 * rather than one look per command as it ends: at many short commands a second the cost is per second, not per task.
 *
 * <p>A command whose shell exited while its output pipes were already at end of file left nothing that still holds
 * them; usually nothing at all, but a {@code sleep 300 >/dev/null 2>&1 &} would go unseen. Its session (the shell's
 * pid, see {@link ProcessTree}) is {@linkplain #watch handed here}: at the next sweep, within {@link #INTERVAL}, every
 * process still in that session or group gets TERM, and whatever is left after the grace KILL, again until none is
 * left (as {@link ProcessTree#stop}). A session is let go at the first sweep that finds it empty, or once a process
 * that is not ours leads a session with its number (a pid handed out again after the session emptied). A command whose
 * pipes are still held when its shell exits is stopped at once by its own run, as before.
 *
 * <p>Under {@code --run-as} with a PID namespace of its own, nothing of a command outlives its first process (the
 * kernel ends the namespace), so nothing is handed here.
 */
final class LeftoverSweeper {

    /** How long at most a leftover runs unseen after its command ended (plus the time a look at /proc takes). */
    static final Duration INTERVAL = Duration.ofMillis(500);

    private static volatile LeftoverSweeper shared;

    /** A session being watched: when it got its TERM (0: not yet), and what to call once it is empty. */
    private static final class Watched {
        final Duration grace;
        final Runnable onEmpty;
        long termedAt;

        Watched(Duration grace, Runnable onEmpty) {
            this.grace = grace;
            this.onEmpty = onEmpty;
        }
    }

    /** Guarded by this. */
    private final Map<Long, Watched> sessions = new HashMap<>();
    private long sweeps;

    private LeftoverSweeper() {
    }

    /** The agent's sweeper, started on first use; null when its thread cannot be had (or there is no /proc). */
    static LeftoverSweeper shared() {
        LeftoverSweeper sweeper = shared;
        if (sweeper != null || !Procfs.available()) {
            return sweeper;
        }
        synchronized (LeftoverSweeper.class) {
            if (shared == null) {
                try {
                    LeftoverSweeper started = new LeftoverSweeper();
                    Thread thread = new Thread(started::loop, "leftover-sweeper");
                    thread.setDaemon(true);
                    thread.start();
                    shared = started;
                } catch (OutOfMemoryError e) {
                    return null;
                }
            }
            return shared;
        }
    }

    /**
     * Watches the session {@code sessionId}, whose leader (the command's shell) has exited and been reaped.
     *
     * @param onEmpty called on the sweeper's thread once nothing of the session runs any more
     */
    synchronized void watch(long sessionId, Duration grace, Runnable onEmpty) {
        sessions.put(sessionId, new Watched(grace, onEmpty));
        notifyAll();
    }

    /** How many looks at /proc it has taken; for tests and figures. */
    synchronized long sweeps() {
        return sweeps;
    }

    /** Whether it still watches {@code sessionId}; for tests. */
    synchronized boolean watching(long sessionId) {
        return sessions.containsKey(sessionId);
    }

    private void loop() {
        while (true) {
            try {
                synchronized (this) {
                    while (sessions.isEmpty()) {
                        wait();
                    }
                }
                // Sessions handed over during the wait are taken together at the next look.
                Thread.sleep(INTERVAL.toMillis());
                sweep();
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                Log.warn("leftover sweeper: " + e);
            }
        }
    }

    private void sweep() {
        Map<Long, Watched> now;
        synchronized (this) {
            now = new HashMap<>(sessions);
            sweeps++;
        }
        Map<Long, List<ProcessHandle>> members = Procfs.membersOfAny(now.keySet());
        List<Runnable> emptied = new ArrayList<>();
        long nanos = System.nanoTime();
        for (Iterator<Map.Entry<Long, Watched>> it = now.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Long, Watched> entry = it.next();
            long id = entry.getKey();
            Watched watched = entry.getValue();
            List<ProcessHandle> left = members.getOrDefault(id, List.of());
            if (left.isEmpty()) {
                emptied.add(watched.onEmpty);
                continue;
            }
            if (Procfs.leadsSession(id)) {
                // Its number was handed out again (so the session emptied), to a process that made a session of its
                // own: not ours to stop, and perhaps another command's, whose watchdog entry has the same number and
                // must stay.
                continue;
            }
            it.remove();
            if (watched.termedAt == 0) {
                left.forEach(ProcessHandle::destroy);
                watched.termedAt = nanos;
            } else if (nanos - watched.termedAt >= watched.grace.toNanos()) {
                int survivors = ProcessTree.killSession(id);
                if (survivors > 0) {
                    Log.warn(survivors + " process(es) left behind by a command in session " + id + " still ran after "
                            + ProcessTree.KILL_PATIENCE.toSeconds() + " s of KILL signals");
                }
            }
        }
        synchronized (this) {
            // What is left in `now` was found empty: let it go, unless it was handed over again meanwhile.
            for (Map.Entry<Long, Watched> entry : now.entrySet()) {
                sessions.remove(entry.getKey(), entry.getValue());
            }
        }
        for (Runnable onEmpty : emptied) {
            try {
                onEmpty.run();
            } catch (RuntimeException e) {
                Log.warn("leftover sweeper: " + e);
            }
        }
    }
}
