package io.taskgrid.master.dispatch;

import io.taskgrid.master.cluster.ChangeAnnouncer;
import io.taskgrid.master.cluster.ClusterRequests;
import io.taskgrid.master.config.TaskgridConfig;
import io.taskgrid.master.task.DatabaseDriver;
import io.taskgrid.master.task.NewTask;
import io.taskgrid.master.task.Task;
import io.taskgrid.master.task.TaskState;
import io.taskgrid.master.task.TaskStore;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.sql.SQLException;
import java.time.Duration;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * Changes taken through the database, on a database masters share: a submission is stored QUEUED and owned by no master,
 * for whichever master's agents have room to claim (woken by the database, see {@code InboxWakeups}); a cancel or a
 * drain of what another master holds is stored as a request for it and waited for up to {@link #EFFECT_WAIT}, so that
 * the answer says what happened, as that master's would. Also what a master that is not dispatching (a second process
 * under one name, standing by) does with every change. Answers have the same types and failures as
 * {@link Dispatcher}'s: the API does not care which master it is on.
 *
 * <p>The caps are checked against the database's counts rather than a queue in memory ({@link IntakeCounts}), read at
 * most once a second: they hold across the masters up to what the others admitted within that second.
 */
@ApplicationScoped
public class DatabaseIntake {

    /** How long a cancel or drain taken here waits for the active master to carry it out before it is answered. */
    static final Duration EFFECT_WAIT = Duration.ofSeconds(2);
    private static final Duration CACHED_WORKERS = Duration.ofSeconds(1);

    @Inject
    TaskStore store;

    @Inject
    TaskgridConfig settings;

    /** At most this many callers wait for their cancel or drain at once; more are answered without waiting. */
    static final int WAITERS = 16;
    private final java.util.concurrent.Semaphore waiters = new java.util.concurrent.Semaphore(WAITERS);

    /** Read from the database: {@code workers} at {@code workersReadAt}; null until first read. */
    private record Listing(List<PublishedWorkers.Seen> workers, long readAt) {
    }

    private volatile Listing listing;

    /**
     * At most this many submissions through this master are checked and stored at once; the rest wait here for up to
     * {@link #STORING_WAIT} without holding a connection, so that a flood of submissions cannot take the pool its
     * lease and health checks need (20 connections).
     */
    static final int STORING = 8;
    static final Duration STORING_WAIT = Duration.ofSeconds(5);
    private final java.util.concurrent.Semaphore storing = new java.util.concurrent.Semaphore(STORING, true);

    /**
     * The database did not take or answer a change made through it, or this master had too many in hand: nothing
     * changed, the caller may try again. The message is for the caller; the cause, with the driver's words (which may
     * name hosts or values), only for the log.
     */
    public static final class DatabaseAway extends RuntimeException {
        private static final long serialVersionUID = 1L;

        DatabaseAway(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** Like {@link Dispatcher#submit}, stored for the master whose agents have room. */
    public CompletableFuture<Dispatcher.Submission> submit(String taskId, NewTask spec, String submittedBy,
                                                           String scopedKey, String requestHash, String secretEnvSealed) {
        List<Task> tasks = store(List.of(taskId), List.of(spec), submittedBy, scopedKey, requestHash,
                java.util.Collections.singletonList(secretEnvSealed));
        return CompletableFuture.completedFuture(new Dispatcher.Submission(tasks == null ? null : tasks.get(0)));
    }

    /** Like {@link Dispatcher#submitBatch}, stored for the masters whose agents have room. */
    public CompletableFuture<Dispatcher.BatchSubmission> submitBatch(List<String> taskIds, List<NewTask> specs,
                                                                     String submittedBy, String scopedKey,
                                                                     String requestHash, List<String> secretEnvSealed) {
        List<Task> tasks = store(taskIds, specs, submittedBy, scopedKey, requestHash, secretEnvSealed);
        return CompletableFuture.completedFuture(new Dispatcher.BatchSubmission(tasks == null ? null
                : List.copyOf(taskIds)));
    }

    /** The tasks as stored; null when the Idempotency-Key was stored by another request first. */
    private List<Task> store(List<String> taskIds, List<NewTask> specs, String submittedBy, String scopedKey,
                             String requestHash, List<String> secretEnvSealed) {
        int count = specs.size();
        LocalDateTime now = Task.nowUtc();
        List<Task> tasks = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            tasks.add(Task.submitted(taskIds.get(i), specs.get(i), settings.defaultMaxAttempts(), submittedBy,
                    secretEnvSealed.get(i), now));
        }
        List<Task> accepted = tasks.stream().map(Task::snapshot).toList();
        try {
            if (!storing.tryAcquire(STORING_WAIT.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)) {
                throw new DatabaseAway("this master has " + STORING + " submissions in hand already", null);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DatabaseAway("interrupted while waiting to store", e);
        }
        boolean stored = false;
        try {
            awaitDatabase();
            counts().admit(submittedBy == null ? "" : submittedBy, count, settings.queueMax(),
                    settings.queuePerCallerMax());
            ChangeAnnouncer announcer = announcer();
            store.insertForActive(tasks, scopedKey, requestHash, c -> {
            }, announcer != null ? c -> {
            } : c -> DatabaseDriver.of(c).announce(c));
            stored = true;
            if (announcer != null) {
                announcer.announce();
            }
        } catch (SQLException e) {
            if (scopedKey != null && Dispatcher.isKeyConflict(e)) {
                return null;
            }
            throw new DatabaseAway("the task(s) could not be stored", e);
        } finally {
            if (!stored && counts != null) {
                counts.notStored(submittedBy == null ? "" : submittedBy, count);
            }
            storing.release();
        }
        io.taskgrid.master.metrics.TaskgridMetrics.TASKS_SUBMITTED.add(count);
        return accepted;
    }

    private volatile IntakeCounts counts;

    @jakarta.annotation.Resource(lookup = "java:comp/DefaultManagedThreadFactory")
    jakarta.enterprise.concurrent.ManagedThreadFactory threadFactory;

    private volatile ChangeAnnouncer announcer;

    /**
     * Who tells the other masters of new tasks, after their commit ({@link ChangeAnnouncer} says why); null where the
     * server gives no managed threads, and then each submission's transaction announces itself.
     */
    private ChangeAnnouncer announcer() {
        ChangeAnnouncer known = announcer;
        if (known == null && threadFactory != null) {
            synchronized (this) {
                if (announcer == null) {
                    announcer = new ChangeAnnouncer(store.dataSource(), threadFactory).start();
                }
                known = announcer;
            }
        }
        return known;
    }

    @jakarta.annotation.PreDestroy
    synchronized void stopAnnouncing() {
        if (announcer != null) {
            announcer.close();
            announcer = null;
        }
    }

    private IntakeCounts counts() {
        IntakeCounts known = counts;
        if (known == null) {
            synchronized (this) {
                if (counts == null) {
                    counts = new IntakeCounts(store.dataSource(), System::nanoTime);
                }
                known = counts;
            }
        }
        return known;
    }

    /** How long a submission waits for a database that does not answer before it is refused (503). */
    static final Duration DATABASE_WAIT = Duration.ofSeconds(30);

    /**
     * Waits, up to {@link #DATABASE_WAIT}, until the database gives a connection: a submission made while it restarts
     * is stored once it is back rather than refused at once. Only the connection is waited for: a transaction that
     * fails later is not tried again, since its commit may have landed.
     */
    private void awaitDatabase() throws SQLException {
        long deadline = System.nanoTime() + DATABASE_WAIT.toNanos();
        long pause = 100;
        while (true) {
            try (java.sql.Connection c = store.dataSource().getConnection()) {
                return;
            } catch (SQLException e) {
                if (System.nanoTime() - deadline > 0) {
                    throw e;
                }
            }
            try {
                Thread.sleep(pause);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SQLException("interrupted while waiting for the database");
            }
            pause = Math.min(pause * 2, 2000);
        }
    }

    /**
     * Like {@link Dispatcher#cancel}: checked here against the stored task, carried out by the active master, and
     * answered with what it did once it did, or, when no active master did within {@link #EFFECT_WAIT}, as in flight
     * (the request stays and is carried out when one takes over).
     */
    public CompletableFuture<Dispatcher.Cancellation> cancel(String taskId, String caller, boolean mayCancelOthers) {
        Optional<Task> stored = store.findHeader(taskId);
        if (stored.isEmpty()) {
            return done(Dispatcher.Cancellation.Outcome.NOT_FOUND, null);
        }
        Task task = stored.get();
        if (!mayCancelOthers && !caller.equals(task.getSubmittedBy())) {
            return done(Dispatcher.Cancellation.Outcome.FORBIDDEN, task);
        }
        if (task.getState().isFinal()) {
            return done(Dispatcher.Cancellation.Outcome.ALREADY_FINAL, task);
        }
        ask(ClusterRequests.Kind.CANCEL, taskId, caller);
        Task now = store.find(taskId).orElse(task);
        // Answered as the active master would have: 200 for a task cancelled while queued, 202 for one that was in
        // flight (even if its agent already stopped it), 409 for one that ended otherwise first.
        boolean cancelledWhileQueued = now.getState() == TaskState.CANCELLED
                && Task.CANCELLED_WHILE_QUEUED.equals(now.getReason());
        return done(cancelledWhileQueued ? Dispatcher.Cancellation.Outcome.CANCELLED
                : now.getState().isFinal() && now.getState() != TaskState.CANCELLED
                ? Dispatcher.Cancellation.Outcome.ALREADY_FINAL : Dispatcher.Cancellation.Outcome.IN_FLIGHT, now);
    }

    /**
     * Asks the active master to drain a worker it published; the worker as listed once it did (or, when no active
     * master did within {@link #EFFECT_WAIT}, as listed before), empty when no master lists such a worker.
     */
    public Optional<PublishedWorkers.Seen> drain(String workerId, String by) {
        Optional<PublishedWorkers.Seen> listed = find(workerId, fresh());
        if (listed.isEmpty()) {
            return listed;
        }
        ask(ClusterRequests.Kind.DRAIN, workerId, by);
        return find(workerId, fresh()).or(() -> listed);
    }

    /** The workers the active master published, read at most {@link #CACHED_WORKERS} ago. */
    public List<PublishedWorkers.Seen> workers() {
        Listing known = listing;
        if (known == null || System.nanoTime() - known.readAt() > CACHED_WORKERS.toNanos()) {
            return fresh();
        }
        return known.workers();
    }

    private List<PublishedWorkers.Seen> fresh() {
        try {
            List<PublishedWorkers.Seen> read = PublishedWorkers.read(store.dataSource());
            listing = new Listing(read, System.nanoTime());
            return read;
        } catch (SQLException e) {
            throw new DatabaseAway("cannot read the workers' list", e);
        }
    }

    private static Optional<PublishedWorkers.Seen> find(String workerId, List<PublishedWorkers.Seen> list) {
        return list.stream().filter(w -> w.id().equals(workerId)).findFirst();
    }

    /**
     * Stores the request and waits for the active master to carry it out; whether it did in time. At most
     * {@link #WAITERS} callers wait at once: the rest are answered at once with the request stored, so that callers who
     * repeat cancels cannot hold every request thread while no master carries them out.
     */
    private boolean ask(ClusterRequests.Kind kind, String target, String by) {
        ClusterRequests requests = new ClusterRequests(store.dataSource());
        try {
            long seq = requests.ask(kind, target, by);
            if (!waiters.tryAcquire()) {
                return false;
            }
            try {
                long deadline = System.nanoTime() + EFFECT_WAIT.toNanos();
                long pause = 5;
                while (System.nanoTime() < deadline) {
                    if (!requests.waiting(seq)) {
                        return true;
                    }
                    Thread.sleep(pause);
                    pause = Math.min(pause * 2, 100);
                }
                return false;
            } finally {
                waiters.release();
            }
        } catch (SQLException e) {
            throw new DatabaseAway("the request could not be stored", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static CompletableFuture<Dispatcher.Cancellation> done(Dispatcher.Cancellation.Outcome outcome, Task task) {
        return CompletableFuture.completedFuture(new Dispatcher.Cancellation(outcome, task));
    }
}
