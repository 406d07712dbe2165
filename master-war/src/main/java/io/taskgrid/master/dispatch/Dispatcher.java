package io.taskgrid.master.dispatch;

import io.taskgrid.master.config.TaskgridConfig;
import io.taskgrid.master.metrics.TaskgridMetrics;
import io.taskgrid.master.task.CancelOutcome;
import io.taskgrid.master.task.NewTask;
import io.taskgrid.master.task.Settled;
import io.taskgrid.master.task.Task;
import io.taskgrid.master.task.TaskIds;
import io.taskgrid.master.task.TaskResult;
import io.taskgrid.master.task.TaskState;
import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.text.SafeText;
import jakarta.annotation.PostConstruct;
import jakarta.annotation.PreDestroy;
import jakarta.annotation.Resource;
import jakarta.enterprise.concurrent.ManagedThreadFactory;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.time.Duration;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Where everything that happens to a task that has not ended happens: submissions, assignments, reports, cancels and
 * lost workers, one after the other on one thread, against the live tasks in memory ({@link LiveTasks}). The task's
 * own methods decide; the store writes what they decided through its group commit; and nothing outside (a client, an
 * agent) hears of a change before it is durable: each public method's future completes after the commit.
 *
 * <p>Nothing polls. A dispatch pass runs when something could let a task go out: a task was submitted, a worker
 * connected, a slot was freed, a stream that was full became ready. A report that frees a slot and the assignment
 * that fills it again go to the database in the same commit, so a busy worker gets its next task without waiting a
 * second round trip to the database.
 */
@ApplicationScoped
public class Dispatcher {

    private static final Logger LOG = Logger.getLogger(Dispatcher.class.getName());
    /** Commands and environments larger than this (in characters) are not kept in memory while queued. */
    public static final int SPEC_IN_MEMORY_CHARS = 8 * 1024;
    /** How long a start waits to be written, for the attempt's result to take it along (see {@link #started}). */
    static final java.time.Duration START_WRITE_DELAY = java.time.Duration.ofMillis(100);

    /** A submission as it ended: the task as it was accepted, or, for an Idempotency-Key already in use, nothing. */
    public record Submission(Task task) {
        public boolean keyInUse() {
            return task == null;
        }
    }

    /** The queue is at its cap: nothing was accepted. */
    public static final class QueueFull extends RuntimeException {
        private final int queued;

        QueueFull(int queued) {
            super(queued + " tasks are queued");
            this.queued = queued;
        }

        public int queued() {
            return queued;
        }
    }

    /**
     * A report came from a session that does not hold the attempt now (its connection closed meanwhile, or another
     * report of the attempt was taken first): nothing changed. The agent may register again and claim it.
     */
    public static final class NotHeld extends RuntimeException {
        private static final long serialVersionUID = 1L;

        NotHeld(String message) {
            super(message, null, false, false);
        }
    }

    /**
     * The answer to a report from a session that does not hold the attempt: false (nothing changed) while the session
     * is open, since the attempt was released by an earlier report of it; {@link NotHeld} once its connection closed.
     */
    private static boolean notHeld(ConnectedWorker worker, String attemptId) {
        if (worker.isClosed()) {
            throw new NotHeld("the connection of worker " + worker.id() + " that held attempt " + attemptId
                    + " closed; register again and claim it");
        }
        return false;
    }

    /** The caller has as many unfinished tasks as its share of the queue allows: nothing was accepted. */
    public static final class CallerShareFull extends RuntimeException {
        private final int unfinished;
        private final int share;

        CallerShareFull(int unfinished, int share) {
            super(unfinished + " unfinished tasks of one caller");
            this.unfinished = unfinished;
            this.share = share;
        }

        public int unfinished() {
            return unfinished;
        }

        public int share() {
            return share;
        }
    }

    /** What a cancel did, with the task as it is now (null when there is no such task). */
    public record Cancellation(Outcome outcome, Task task) {
        public enum Outcome {
            NOT_FOUND, FORBIDDEN, ALREADY_FINAL, CANCELLED, IN_FLIGHT,
            /**
             * Stored by another master and not yet in this one's queue (it takes it at its next wake-up): nothing
             * changed; ask through the database ({@link DatabaseIntake#cancel}), which carries it out after.
             */
            NOT_TAKEN_YET
        }
    }

    private final TaskStore store;
    /**
     * Run when this master's agents have room and its queue is empty, so that it claims more from the database
     * (several masters; nothing on a master that is alone with its database). Must return at once.
     */
    private volatile Runnable roomHook = () -> {
    };
    /** Takes, from masters that are gone, attempts an agent claims on connecting here; null when alone. */
    private volatile Reclaimer reclaimer;
    private final WorkerRegistry registry;
    private final TaskgridConfig settings;
    private final LiveTasks live = new LiveTasks();
    private final LostAttemptReaper reaper;
    /** Keys of submissions whose task is not durable yet: a second request with the key waits for the first. */
    private final Map<String, CompletableFuture<Void>> pendingKeys = new HashMap<>();
    /** The last write of each task not durable yet: an answer about the task waits for it. */
    private final Map<String, CompletableFuture<Void>> unwritten = new HashMap<>();
    /** The writes of the event the loop thread is handling; null between events. Loop thread only. */
    private TaskStore.Batch batch;

    @Resource(lookup = "java:comp/DefaultManagedThreadFactory")
    ManagedThreadFactory threadFactory;

    private ScheduledThreadPoolExecutor loop;
    private final AtomicBoolean passRequested = new AtomicBoolean();
    private volatile java.util.function.BooleanSupplier mayHandOut = () -> true;
    private volatile boolean workersSentAway;
    /** What the event being handled assigned, by worker; sent when its writes are durable. Loop thread only. */
    private final Map<ConnectedWorker, List<Outgoing>> outgoing = new LinkedHashMap<>();
    /**
     * Workers given a task to prefetch, which may still hold it unstarted (see {@link #askBackFor}); kept loosely: one
     * that holds no more than its slots, or is gone, leaves when next looked at. Loop thread only.
     */
    private final Set<ConnectedWorker> holdingPrefetched = new LinkedHashSet<>();
    private volatile boolean stopped;
    /** When (System.nanoTime) the event the loop runs now began; 0 between events. For the liveness check. */
    private volatile long eventSince;

    @Inject
    public Dispatcher(TaskStore store, WorkerRegistry registry, TaskgridConfig settings) {
        this.store = store;
        this.registry = registry;
        this.settings = settings;
        this.reaper = new LostAttemptReaper(live, registry);
    }

    /** For the CDI proxy only. */
    protected Dispatcher() {
        this(null, null, null);
    }

    @PostConstruct
    void createLoop() {
        startLoop(threadFactory);
    }

    /** Starts the loop thread; tests call it with a plain thread factory. */
    public void startLoop(ThreadFactory threads) {
        ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(1, threads);
        executor.setRemoveOnCancelPolicy(true);
        // Expiries still waiting when the master stops are settled by the next start, not by this one on its way out.
        executor.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
        loop = executor;
    }

    /**
     * Takes over the unfinished tasks the database holds. A fresh master has no workers yet: every attempt still in
     * flight gets the grace period from now, for its agent to reconnect and claim it.
     */
    public void start() {
        start(0);
    }

    /**
     * As {@link #start()}, with {@code extraGraceSeconds} more for the attempts in flight: on a database several masters
     * share, a master that took over from one cut off from the database waits for that one's agents, which it lets go
     * only half a lease after its lease ran out; they may reach this one up to that long after it took over, and
     * their tasks must not run twice meanwhile.
     */
    public void start(long extraGraceSeconds) {
        // Read here, on the starting thread: the loop's managed thread may not run until the application has started.
        List<Task> unfinished = store.loadUnfinished(SPEC_IN_MEMORY_CHARS);
        long takeOverGrace = settings.lostAfterSeconds() + extraGraceSeconds;
        execute(() -> {
            int inFlight = 0;
            for (Task task : unfinished) {
                live.add(task);
                if (task.getAttemptId() != null) {
                    inFlight++;
                    expireLater(task.getId(), task.getAttemptId(), "the master restarted (or another took over) while "
                            + "the task was in flight and its worker did not reclaim it within " + takeOverGrace
                            + " s", takeOverGrace);
                }
            }
            int held = inFlight;
            LOG.info(() -> live.queuedCount() + " queued task(s) and " + held + " in flight taken over from the database"
                    + (held == 0 ? "" : "; their agents have " + takeOverGrace + " s to reclaim them"));
        });
        requestDispatch();
    }

    /**
     * Stops dispatching and stops settling lost workers. Called before the gRPC server closes its streams when the
     * master shuts down: those streams end because the master stops, not because the workers went away, and what
     * they held is settled when the master starts again.
     */
    @PreDestroy
    public void stop() {
        stopped = true;
        if (loop != null) {
            loop.shutdown();
            try {
                loop.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            loop.shutdownNow();
        }
    }

    /** Tasks waiting for a worker; exact, readable from any thread. */
    public int queued() {
        return live.queuedCount();
    }

    /** Tasks assigned or running; readable from any thread. */
    public int inFlight() {
        return live.inFlightCount();
    }

    /**
     * Why the loop cannot be counted on to handle the next event, or empty while it can. Every event is short (no
     * event waits for the database to commit), so one that has run for {@code stuckAfter} is stuck, and everything
     * behind it waits: the liveness check reports that, rather than a timestamp of the last event, which would call
     * an idle master dead.
     */
    public Optional<String> loopTrouble(Duration stuckAfter) {
        if (loop == null || loop.isShutdown()) {
            return Optional.of("the dispatcher loop is stopped");
        }
        long since = eventSince;
        long running = since == 0 ? 0 : System.nanoTime() - since;
        return running > stuckAfter.toNanos() ? Optional.of("one dispatcher event has been running for "
                + TimeUnit.NANOSECONDS.toSeconds(running) + " s") : Optional.empty();
    }

    // ---- submissions and cancels (REST) ----

    /**
     * Accepts a task: QUEUED in memory, then durable, then (the future) answered. With an Idempotency-Key whose first
     * request is still being written, waits for it and answers {@link Submission#keyInUse()}: the caller then finds
     * that request's task in the store.
     *
     * @param taskId          a fresh id ({@link TaskIds#next()}), made before the call so that
     *                        the secrets can be sealed for this task alone
     * @param scopedKey       the caller's Idempotency-Key as stored, or null
     * @param secretEnvSealed the secretEnv sealed for {@code taskId}, or null
     */
    public CompletableFuture<Submission> submit(String taskId, NewTask spec, String submittedBy, String scopedKey,
                                                String requestHash, String secretEnvSealed) {
        return call(() -> {
            if (scopedKey != null && pendingKeys.containsKey(scopedKey)) {
                return pendingKeys.get(scopedKey).handle((v, e) -> new Submission(null));
            }
            if (live.queuedCount() >= settings.queueMax()) {
                throw new QueueFull(live.queuedCount());
            }
            // One submitter (of tasks whose requires no worker offers, say) must not lock everyone else out by
            // filling the queue: its unfinished tasks, whatever they require, may take only its share.
            int mine = live.unfinishedOf(submittedBy);
            if (mine >= settings.queuePerCallerMax()) {
                throw new CallerShareFull(mine, settings.queuePerCallerMax());
            }
            Task task = Task.submitted(taskId, spec, settings.defaultMaxAttempts(), submittedBy, secretEnvSealed,
                    Task.nowUtc());
            live.add(task);
            Task accepted = task.snapshot();
            CompletableFuture<Void> saved = batch.insert(task, scopedKey, requestHash);
            track(task, saved);
            if (scopedKey != null) {
                pendingKeys.put(scopedKey, saved);
                saved.whenComplete((v, e) -> execute(() -> pendingKeys.remove(scopedKey, saved)));
            }
            saved.whenComplete((v, e) -> execute(() -> {
                if (e != null) {
                    // Never stored: it must not run either.
                    live.remove(task);
                    registry.holderOf(task.getId(), task.getAttemptId()).ifPresent(w ->
                            w.release(task.getId(), task.getAttemptId()));
                } else {
                    TaskgridMetrics.TASKS_SUBMITTED.inc();
                    task.forgetSpecIfLarge(SPEC_IN_MEMORY_CHARS);
                }
            }));
            dispatchPass();
            return answerOrRepeat(saved, scopedKey, new Submission(accepted), new Submission(null));
        }).thenCompose(f -> f);
    }

    /**
     * {@code stored} once the submission's write is durable; {@code keyInUse} when it failed because another request
     * stored the same Idempotency-Key first (see {@link #isKeyConflict}); any other failure as it came.
     */
    private static <T> CompletableFuture<T> answerOrRepeat(CompletableFuture<Void> saved, String scopedKey, T stored,
                                                           T keyInUse) {
        return saved.handle((v, e) -> {
            if (e == null) {
                return stored;
            }
            if (scopedKey != null && isKeyConflict(e)) {
                return keyInUse;
            }
            throw e instanceof CompletionException c ? c : new CompletionException(e);
        });
    }

    /**
     * Whether a write failed because another request stored the same Idempotency-Key first: one whose check of the
     * key came before the other's commit, and whose submission came after it (the pending-key map covers only the
     * time in between). The database is the arbiter; the caller answers as for a repeat of that request.
     */
    public static boolean isKeyConflict(Throwable failure) {
        for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
            if (cause instanceof java.sql.SQLException sql && "23505".equals(sql.getSQLState())
                    && String.valueOf(sql.getMessage()).toUpperCase(java.util.Locale.ROOT).contains("IDEMPOTENCY_KEY")) {
                return true;
            }
            if (cause.getCause() == cause) {
                break;
            }
        }
        return false;
    }

    /** A batch submission as it ended: the ids of its tasks in order, or, for an Idempotency-Key in use, nothing. */
    public record BatchSubmission(List<String> ids) {
        public boolean keyInUse() {
            return ids == null;
        }
    }

    /**
     * Accepts a batch of tasks whole or not at all: the queue's cap and the caller's share are checked for the batch
     * as a whole, and the tasks are stored in one transaction, all or none, before the future completes. Otherwise as
     * {@link #submit}: the arguments are the same, one per task in order, with one Idempotency-Key for the batch.
     */
    public CompletableFuture<BatchSubmission> submitBatch(List<String> taskIds, List<NewTask> specs, String submittedBy,
                                                          String scopedKey, String requestHash,
                                                          List<String> secretEnvSealed) {
        return call(() -> {
            if (scopedKey != null && pendingKeys.containsKey(scopedKey)) {
                return pendingKeys.get(scopedKey).handle((v, e) -> new BatchSubmission(null));
            }
            int count = specs.size();
            if (live.queuedCount() + count > settings.queueMax()) {
                throw new QueueFull(live.queuedCount());
            }
            int mine = live.unfinishedOf(submittedBy);
            if (mine + count > settings.queuePerCallerMax()) {
                throw new CallerShareFull(mine, settings.queuePerCallerMax());
            }
            LocalDateTime now = Task.nowUtc();
            List<Task> tasks = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                Task task = Task.submitted(taskIds.get(i), specs.get(i), settings.defaultMaxAttempts(), submittedBy,
                        secretEnvSealed.get(i), now);
                live.add(task);
                tasks.add(task);
            }
            CompletableFuture<Void> saved = batch.insertAll(tasks, scopedKey, requestHash);
            // As track() does, but one loop event for the whole batch when it is written, not one per task.
            for (Task task : tasks) {
                unwritten.put(task.getId(), saved);
            }
            if (scopedKey != null) {
                pendingKeys.put(scopedKey, saved);
            }
            saved.whenComplete((v, e) -> execute(() -> {
                if (scopedKey != null) {
                    pendingKeys.remove(scopedKey, saved);
                }
                for (Task task : tasks) {
                    unwritten.remove(task.getId(), saved);
                    if (e != null) {
                        // Never stored: none of them may run either.
                        live.remove(task);
                        registry.holderOf(task.getId(), task.getAttemptId()).ifPresent(w ->
                                w.release(task.getId(), task.getAttemptId()));
                    } else {
                        task.forgetSpecIfLarge(SPEC_IN_MEMORY_CHARS);
                    }
                }
                if (e == null) {
                    TaskgridMetrics.TASKS_SUBMITTED.add(count);
                }
            }));
            dispatchPass();
            List<String> ids = List.copyOf(taskIds);
            return answerOrRepeat(saved, scopedKey, new BatchSubmission(ids), new BatchSubmission(null));
        }).thenCompose(f -> f);
    }

    /**
     * Cancels a task: a queued one is CANCELLED at once; one in flight is marked, and once that is durable its worker
     * is told to stop it. {@code mayCancelOthers}: an operator; anyone else may cancel only what they submitted.
     */
    public CompletableFuture<Cancellation> cancel(String taskId, String caller, boolean mayCancelOthers) {
        return this.<CompletableFuture<Cancellation>>call(() -> {
            Optional<Task> found = live.get(taskId);
            if (found.isEmpty()) {
                return CompletableFuture.completedFuture(null);
            }
            Task task = found.get();
            if (!mayCancelOthers && !caller.equals(task.getSubmittedBy())) {
                return CompletableFuture.completedFuture(new Cancellation(Cancellation.Outcome.FORBIDDEN,
                        task.snapshot()));
            }
            CancelOutcome outcome = task.cancel(caller, Task.nowUtc());
            if (outcome != CancelOutcome.ALREADY_FINAL) {
                LOG.info(() -> "task " + taskId + " cancelled by " + SafeText.oneLine(caller, 128)
                        + (outcome == CancelOutcome.IN_FLIGHT ? "; its worker is told to stop it" : " while queued"));
            }
            live.reindex(task);
            Task now = task.snapshot();
            String attemptId = task.getAttemptId();
            CompletableFuture<Void> saved = save(task);
            if (outcome == CancelOutcome.IN_FLIGHT) {
                saved.thenRun(() -> registry.holderOf(taskId, attemptId)
                        .ifPresent(worker -> worker.channel().cancel(taskId, attemptId)));
            }
            return saved.thenApply(v -> new Cancellation(outcome == CancelOutcome.CANCELLED
                    ? Cancellation.Outcome.CANCELLED : Cancellation.Outcome.IN_FLIGHT, now));
        }).thenCompose(f -> f).thenApply(result -> result != null ? result : finishedOrMissing(taskId, caller,
                mayCancelOthers));
    }

    /**
     * As {@link #cancel}, asked through the database by an operator's or submitter's request another master stored
     * (checked there), for a task this master may hold: null when it does not, without reading the database on the
     * dispatcher's thread.
     */
    public CompletableFuture<Cancellation> cancelHeld(String taskId, String caller) {
        return this.<CompletableFuture<Cancellation>>call(() -> {
            if (live.get(taskId).isEmpty()) {
                return CompletableFuture.completedFuture(null);
            }
            return cancel(taskId, caller, true);
        }).thenCompose(f -> f);
    }

    /**
     * Takes into the queue tasks that another master stored for this one ({@link TaskStore#claimWaiting}): queued, as
     * if submitted here, but counted against no cap, for the master that took them checked the caps already.
     * {@code cancelAsked} (task id to who asked) are the cancels other masters stored for tasks not taken yet: those
     * tasks are cancelled in the same step, before any dispatch pass could hand them out, so a task cancelled while
     * queued never starts.
     */
    public CompletableFuture<Void> adopt(List<Task> tasks, Map<String, String> cancelAsked) {
        return call(() -> {
            int added = 0;
            for (Task task : tasks) {
                if (live.get(task.getId()).isEmpty()) {
                    live.add(task);
                    added++;
                    String asker = cancelAsked.get(task.getId());
                    if (asker != null && task.cancel(asker, Task.nowUtc()) == CancelOutcome.CANCELLED) {
                        LOG.info(() -> "task " + task.getId() + " cancelled by " + SafeText.oneLine(asker, 128)
                                + " while queued (through another master)");
                        live.reindex(task);
                        save(task);
                    }
                }
            }
            if (added > 0) {
                dispatchPass();
            }
            return null;
        });
    }

    /**
     * The store sealed these tasks' secrets again under the current key: the tasks in memory use the new values from now
     * on, so that the older key is needed for nothing once every stored value has moved.
     */
    public CompletableFuture<Void> secretsResealed(List<TaskStore.Resealed> resealed) {
        return call(() -> {
            for (TaskStore.Resealed one : resealed) {
                live.get(one.taskId()).ifPresent(task -> task.secretResealed(one.before(), one.after()));
            }
            return null;
        });
    }

    /** A task not in memory has ended, or does not exist. */
    private Cancellation finishedOrMissing(String taskId, String caller, boolean mayCancelOthers) {
        Optional<Task> stored = store.findHeader(taskId);
        if (stored.isEmpty()) {
            return new Cancellation(Cancellation.Outcome.NOT_FOUND, null);
        }
        if (!mayCancelOthers && !caller.equals(stored.get().getSubmittedBy())) {
            return new Cancellation(Cancellation.Outcome.FORBIDDEN, stored.get());
        }
        if (!stored.get().getState().isFinal()) {
            return new Cancellation(Cancellation.Outcome.NOT_TAKEN_YET, stored.get());
        }
        return new Cancellation(Cancellation.Outcome.ALREADY_FINAL, stored.get());
    }

    // ---- several masters: claims, give-backs, reclaims ----

    /** Takes from the database attempts (task id to attempt id) that an agent claims here, of tasks no master holds. */
    @FunctionalInterface
    public interface Reclaimer {
        TaskStore.Reclaimed reclaim(Map<String, String> attemptsByTask) throws java.sql.SQLException;
    }

    /** Runs the reclaims (database calls) and their retries, off the gRPC and loop threads. */
    private volatile java.util.concurrent.ScheduledExecutorService reclaims;
    /** How long a reclaim asks again for attempts whose master still holds its lease (it died a moment ago). */
    private volatile Duration reclaimWait = Duration.ZERO;

    /**
     * With other masters on the database: claims more when there is room ({@code whenRoom}, which must return at
     * once), and reclaims, on {@code reclaimThreads}, the attempts agents bring from masters that are gone, asking
     * again for up to {@code ownerLeaseWait} while such a master's lease has not run out yet.
     */
    public void shareWithOtherMasters(Runnable whenRoom, Reclaimer fromOthers,
                                      java.util.concurrent.ScheduledExecutorService reclaimThreads,
                                      Duration ownerLeaseWait) {
        this.roomHook = whenRoom;
        this.reclaims = reclaimThreads;
        this.reclaimWait = ownerLeaseWait;
        this.reclaimer = fromOthers;
    }

    /**
     * How many more tasks this master's agents could take now: the slots and prefetch of its connected workers that
     * are not draining, less the tasks it holds (queued or in flight). Readable from any thread; a snapshot.
     */
    public int room() {
        int capacity = 0;
        for (ConnectedWorker worker : registry.all()) {
            if (!worker.isDraining() && !worker.isClosed()) {
                capacity += worker.slots() + worker.prefetch();
            }
        }
        return capacity - live.queuedCount() - live.inFlightCount();
    }

    /** Whether a connected worker that is not draining offers what {@code required} asks for. */
    public boolean someWorkerRuns(io.taskgrid.master.task.Labels required) {
        for (ConnectedWorker worker : registry.all()) {
            if (!worker.isDraining() && !worker.isClosed() && required.satisfiedBy(worker.labels())) {
                return true;
            }
        }
        return false;
    }

    /**
     * Takes out of the queue the queued tasks this master's agents have no room for (they left, or drain), the least
     * urgent and newest first, for the caller to give back to the other masters ({@link TaskStore#giveBack}); tasks
     * with a write still on its way stay. Put back with {@link #adopt} if the give-back fails.
     */
    public CompletableFuture<List<Task>> takeOutSurplus() {
        return call(() -> {
            int surplus = -room();
            if (surplus <= 0 || live.queuedCount() == 0) {
                return List.<Task>of();
            }
            List<Task> out = new ArrayList<>();
            for (Task task : live.lastQueued(Math.min(surplus, live.queuedCount()))) {
                if (!unwritten.containsKey(task.getId())) {
                    live.remove(task);
                    out.add(task);
                }
            }
            return out;
        });
    }

    /**
     * Takes in the tasks in flight of a master that is gone and whose agents did not reclaim them within the grace
     * period: each attempt is settled at once as a lost worker's would be (run again, or LOST).
     */
    public CompletableFuture<Void> adoptLost(List<Task> tasks, String master) {
        return call(() -> {
            for (Task task : tasks) {
                if (live.get(task.getId()).isEmpty()) {
                    live.add(task);
                    if (task.getAttemptId() != null) {
                        expireLater(task.getId(), task.getAttemptId(), "master " + master + " that held the task "
                                + "stopped or lost its lease, and no agent reclaimed the attempt within "
                                + settings.lostAfterSeconds() + " s", 0);
                    }
                }
            }
            dispatchPass();
            return null;
        });
    }

    /**
     * Attempts claimed by a connecting agent that this master does not hold, taken from the database when their master
     * is gone; completes once every claim is settled either way. While the master that held them still holds its
     * lease (it died a moment ago, and the agent was quicker), asked again every second until {@code reclaimWait}.
     */
    private CompletableFuture<Void> reclaimFromOthers(ConnectedWorker worker, Map<String, String> claimed) {
        Reclaimer from = reclaimer;
        java.util.concurrent.ScheduledExecutorService threads = reclaims;
        if (from == null || threads == null || claimed.isEmpty()) {
            return CompletableFuture.completedFuture(null);
        }
        CompletableFuture<Void> done = new CompletableFuture<>();
        long deadline = System.nanoTime() + reclaimWait.toNanos();
        Runnable attempt = new Runnable() {
            @Override
            public void run() {
                try {
                    Map<String, String> notHere = call(() -> {
                        Map<String, String> missing = new LinkedHashMap<>();
                        claimed.forEach((taskId, attemptId) -> {
                            if (live.get(taskId).isEmpty()) {
                                missing.put(taskId, attemptId);
                            }
                        });
                        return missing;
                    }).get(30, TimeUnit.SECONDS);
                    if (notHere.isEmpty() || worker.isClosed()) {
                        done.complete(null);
                        return;
                    }
                    TaskStore.Reclaimed reclaimed = from.reclaim(notHere);
                    List<Task> taken = reclaimed.taken();
                    if (!taken.isEmpty()) {
                        call(() -> {
                            taken.forEach(task -> {
                                if (live.get(task.getId()).isEmpty()) {
                                    live.add(task);
                                    // Settled as lost unless the worker, which may have gone meanwhile, holds it.
                                    expireLater(task.getId(), task.getAttemptId(), "worker " + worker.id() + " brought "
                                            + "the attempt from a master that is gone and did not stay within "
                                            + settings.lostAfterSeconds() + " s", settings.lostAfterSeconds());
                                }
                            });
                            return null;
                        }).get(30, TimeUnit.SECONDS);
                        LOG.info(() -> "worker " + worker.id() + " brought " + taken.size() + " attempt(s) from a "
                                + "master that is gone; this master holds them now");
                    }
                    if (reclaimed.ownerLives().isEmpty() || System.nanoTime() - deadline > 0) {
                        done.complete(null);
                    } else {
                        inASecond(threads, this, done);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    done.complete(null);
                } catch (Exception e) {
                    // A lock wait that gave up, a deadlock the database broke, the database away: asked again.
                    if (System.nanoTime() - deadline > 0) {
                        LOG.warning("the attempts worker " + worker.id() + " claims could not be taken from the "
                                + "master that held them (" + SafeText.oneLine(String.valueOf(e.getMessage()), 200)
                                + ")");
                        done.complete(null);
                    } else {
                        inASecond(threads, this, done);
                    }
                }
            }
        };
        try {
            threads.execute(attempt);
        } catch (RejectedExecutionException e) {
            done.complete(null);
        }
        return done;
    }

    /** Runs {@code attempt} again in a second, or ends {@code done} if the threads stopped. */
    private static void inASecond(java.util.concurrent.ScheduledExecutorService threads, Runnable attempt,
                                  CompletableFuture<Void> done) {
        try {
            threads.schedule(attempt, 1, TimeUnit.SECONDS);
        } catch (RejectedExecutionException stopped) {
            done.complete(null);
        }
    }

    // ---- workers (gRPC) ----

    /**
     * A worker (re)connected holding the attempts it claimed (their slots are taken already). Each is checked here,
     * against the live tasks: one that is still its task's current attempt is the worker's (this session's) again (and
     * cancelled if its cancel was asked for); one that is no longer current only keeps its slot until the agent reports
     * it (the report changes nothing). The future completes once every claim is checked, with the attempts no longer
     * current: the agent is told it is registered only then, with those to stop, so that it cannot report a claimed
     * attempt before, nor start one of them it held prefetched.
     */
    public CompletableFuture<List<String>> workerConnected(ConnectedWorker worker, Map<String, String> claimed) {
        CompletableFuture<List<String>> checked = claimed.isEmpty() ? CompletableFuture.completedFuture(List.of())
                : reclaimFromOthers(worker, claimed).thenCompose(reclaimed -> call(() -> {
                    List<String> stale = new ArrayList<>();
                    claimed.forEach((taskId, attemptId) -> {
                        Optional<Task> task = live.get(taskId).filter(t -> t.isCurrent(attemptId));
                        worker.claimChecked(taskId, attemptId, task.isPresent());
                        if (task.isEmpty()) {
                            LOG.info(() -> "worker " + worker.id() + " still holds attempt " + attemptId + " of task "
                                    + taskId + ", which is no longer current: stopping it");
                            stale.add(attemptId);
                        } else if (task.get().isCancelRequested()) {
                            worker.channel().cancel(taskId, attemptId);
                        } else {
                            LOG.info(() -> "worker " + worker.id() + " reclaimed attempt " + attemptId + " of task "
                                    + taskId);
                        }
                    });
                    return stale;
                }));
        requestDispatch();
        return checked;
    }

    /**
     * The worker's stream ended: it takes nothing more, and what it held gets the grace period to be reclaimed by the
     * same worker reconnecting.
     */
    public void workerGone(ConnectedWorker worker, String why) {
        Map<String, String> inFlight = worker.close();
        registry.remove(worker);
        LOG.info(() -> "worker " + worker.id() + " disconnected (" + why + "), " + inFlight.size()
                + " task(s) in flight" + (inFlight.isEmpty() ? "" : "; they wait " + settings.lostAfterSeconds()
                + " s for it"));
        if (stopped || workersSentAway) {
            // This master closed the stream itself: what the worker held is settled when the master takes workers
            // again (see welcomeWorkersBack), or by the master that takes over.
            return;
        }
        String reason = "worker " + worker.id() + " disconnected while the task was in flight (" + why
                + ") and did not come back within " + settings.lostAfterSeconds() + " s";
        inFlight.forEach((taskId, attemptId) -> expireLater(taskId, attemptId, reason));
    }

    /**
     * The agent started the attempt's process. Answered at once, and written a little later ({@link #START_WRITE_DELAY}),
     * unless the attempt's result comes first and takes the start along in its own write: most commands end within
     * milliseconds, and one commit per task instead of two is most of what the database costs. Nothing is lost if the
     * start is never written (the master stops first): the attempt is still ASSIGNED, and its result, which is
     * durable before it is acknowledged, ends it.
     */
    public CompletableFuture<Boolean> started(ConnectedWorker worker, String taskId, String attemptId) {
        return call(() -> {
            if (!worker.holds(taskId, attemptId)) {
                return notHeld(worker, attemptId);
            }
            worker.ran();
            Optional<Task> task = live.get(taskId);
            if (task.isEmpty() || !task.get().started(attemptId, Task.nowUtc())) {
                return false;
            }
            Task started = task.get();
            TaskgridMetrics.taskStarted(started.getSubmittedAt(), started.getStartedAt());
            loop.schedule(() -> inBatch(() -> {
                if (started.isDirty() && live.get(taskId).isPresent()) {
                    save(started);
                }
            }), START_WRITE_DELAY.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        });
    }

    /**
     * The attempt is over on its worker: its slot is free at once, and the next task for it goes to the database in
     * the same commit as this result. If the database refuses the result, the task ends FAILED with a reason and
     * without its output instead. The future: whether the report changed the task, once durable; false when
     * {@code worker}'s session does not hold the attempt (an earlier report released it), and {@link NotHeld} when its
     * connection closed meanwhile: either way nothing changed.
     */
    public CompletableFuture<Boolean> finished(ConnectedWorker worker, String taskId, String attemptId,
                                               TaskResult result) {
        return finished(worker, taskId, attemptId, result, null);
    }

    /**
     * As {@link #finished(ConnectedWorker, String, String, TaskResult)}, for an attempt whose process ran for
     * {@code ranFor} (null: unknown): a task whose start was never reported gets its start from it, on this master's
     * clock, so that a short task's assignment, start and result need no write of their own for the start.
     */
    public CompletableFuture<Boolean> finished(ConnectedWorker worker, String taskId, String attemptId,
                                               TaskResult result, Duration ranFor) {
        return call(() -> {
            // Only the session that holds the attempt now: the check of the gRPC thread may be stale by now.
            if (!worker.release(taskId, attemptId)) {
                return CompletableFuture.completedFuture(notHeld(worker, attemptId));
            }
            worker.ran();
            Optional<Task> task = live.get(taskId);
            LocalDateTime now = Task.nowUtc();
            if (task.isPresent() && ranFor != null && result.exitCode() != null
                    && task.get().started(attemptId, task.get().startFrom(now, ranFor))) {
                TaskgridMetrics.taskStarted(task.get().getSubmittedAt(), task.get().getStartedAt());
            }
            Settled settled = task.isEmpty() ? Settled.IGNORED : task.get().finished(attemptId, result, now);
            CompletableFuture<Boolean> answer;
            if (settled == Settled.IGNORED) {
                answer = afterWrites(taskId, false);
            } else {
                live.reindex(task.get());
                answer = saveOrEndUnstorable(task.get(), task.get().snapshot(), attemptId);
            }
            if (settled == Settled.REQUEUED) {
                // A retry is a queued task like any other: a worker with a free slot comes before this one's prefetch.
                dispatchPass();
            } else {
                dispatchTo(worker);
            }
            return answer;
        }).thenCompose(f -> f);
    }

    /**
     * The agent handed the attempt back without starting it. The worker's count of refusals in a row goes up (it is
     * drained past {@code taskgrid.worker.refusal.limit}); the task goes back to the queue, or fails past
     * {@code taskgrid.task.refusal.limit}.
     */
    public CompletableFuture<Boolean> refused(ConnectedWorker worker, String taskId, String attemptId, String reason) {
        return call(() -> {
            if (!worker.release(taskId, attemptId)) {
                return CompletableFuture.completedFuture(notHeld(worker, attemptId));
            }
            if (worker.refused(settings.workerRefusalLimit())) {
                LOG.warning(() -> "worker " + worker.id() + " drained: " + worker.drainReason());
            }
            Optional<Task> task = live.get(taskId);
            Settled settled = task.isEmpty() ? Settled.IGNORED
                    : task.get().refused(attemptId, reason, settings.taskRefusalLimit(), Task.nowUtc());
            CompletableFuture<Boolean> answer = saveUnstarted(task, settled, taskId, attemptId);
            dispatchPass();
            return answer;
        }).thenCompose(f -> f);
    }

    /**
     * The agent gave back an attempt it held prefetched and never started, because it drains or shuts down, or the
     * master asked for it ({@link #askBackFor}): the task goes back to the queue as if it had not been assigned.
     * Unasked, from a worker that is not draining, it is a refusal like any other, so that an agent cannot bounce
     * tasks for ever at no cost.
     */
    public CompletableFuture<Boolean> returned(ConnectedWorker worker, String taskId, String attemptId, String reason) {
        return call(() -> {
            if (!worker.isDraining() && !worker.wasAskedBack(taskId, attemptId)) {
                return refused(worker, taskId, attemptId, reason);
            }
            if (!worker.release(taskId, attemptId)) {
                return CompletableFuture.completedFuture(notHeld(worker, attemptId));
            }
            Optional<Task> task = live.get(taskId);
            Settled settled = task.isEmpty() ? Settled.IGNORED : task.get().returned(attemptId, reason, Task.nowUtc());
            CompletableFuture<Boolean> answer = saveUnstarted(task, settled, taskId, attemptId);
            // A draining worker takes nothing, one that was asked gave it back for another: whoever may, takes it.
            dispatchPass();
            return answer;
        }).thenCompose(f -> f);
    }

    /**
     * Writes what handing an attempt back unstarted (refused or returned) did to its task. A task that ended here must
     * end in the database too, as a result that cannot be stored does; one back in the queue is written whole with its
     * next change, and the agent is told to send it again.
     */
    private CompletableFuture<Boolean> saveUnstarted(Optional<Task> task, Settled settled, String taskId,
                                                     String attemptId) {
        if (settled == Settled.IGNORED) {
            return afterWrites(taskId, false);
        }
        live.reindex(task.get());
        return saveOrEndUnstorable(task.get(), settled == Settled.FINAL ? task.get().snapshot() : null, attemptId);
    }

    /**
     * From now on tasks go out only while {@code allowed} says so: the master's hold on its database's dispatch lease.
     * Checked before every assignment, so that a master whose lease may have run out stops handing out at once; the
     * write fence stops one whose lease another master took, whatever this says. Call {@link #requestDispatch} when it
     * allows again.
     */
    public void handOutOnlyWhile(java.util.function.BooleanSupplier allowed) {
        this.mayHandOut = allowed;
    }

    /**
     * This master is about to close every worker's stream because it cannot count on its lease (its database does not
     * answer): those workers did not go away, they were sent to another master. Their attempts are not given up
     * while this lasts; another master that takes over settles them, or {@link #welcomeWorkersBack} does.
     */
    public void sendWorkersAway() {
        workersSentAway = true;
    }

    /**
     * This master takes workers again, still holding its lease: every attempt in flight whose worker is not connected
     * gets the grace period from now, as after a restart.
     */
    public void welcomeWorkersBack() {
        execute(() -> {
            workersSentAway = false;
            int waiting = 0;
            for (Task task : List.copyOf(live.all())) {
                String attemptId = task.getAttemptId();
                if (attemptId != null && registry.holderOf(task.getId(), attemptId).isEmpty()) {
                    waiting++;
                    expireLater(task.getId(), attemptId, "its worker did not come back within "
                            + settings.lostAfterSeconds() + " s of this master taking workers again");
                }
            }
            int held = waiting;
            LOG.info(() -> "taking workers again; " + held + " attempt(s) in flight wait "
                    + settings.lostAfterSeconds() + " s for their workers");
        });
        requestDispatch();
    }

    /** Asks for a dispatch pass; requests that arrive while one is pending fold into it. */
    public void requestDispatch() {
        if (!stopped && passRequested.compareAndSet(false, true)) {
            execute(() -> {
                passRequested.set(false);
                dispatchPass();
            });
        }
    }

    // ---- on the loop thread ----

    /**
     * Hands out what can go now. Workers with a free slot come first, in turns, one task each per turn, the next queued
     * task (by priority, then age) that each may run; only then does a worker get a task to prefetch (held until a slot
     * frees there), so that a short queue is not held by one agent while another is idle. A worker that may run none of
     * the queued tasks is passed over; a task that no available worker may run stays queued without holding up the tasks
     * behind it. The workers are listed once per pass: its cost is the number of workers plus the tasks it hands out.
     */
    private void dispatchPass() {
        if (stopped) {
            return;
        }
        try {
            if (live.queuedCount() == 0 && holdingPrefetched.isEmpty()) {
                roomHook.run();
                return;
            }
            List<ConnectedWorker> available = registry.availableInTurn();
            ConnectedWorker last = inTurns(available, true);
            ConnectedWorker prefetched = mayPrefetch() ? inTurns(available, false) : null;
            last = prefetched != null ? prefetched : last;
            if (last != null) {
                registry.tookTurn(last);
            }
            available.forEach(this::askBackFor);
        } catch (RuntimeException e) {
            LOG.log(Level.SEVERE, "dispatch pass failed; trying again in a second", e);
            loop.schedule(this::requestDispatch, 1, TimeUnit.SECONDS);
        }
    }

    /** Turns over {@code workers} while any of them takes a task; the last one given a task, or null. */
    private ConnectedWorker inTurns(List<ConnectedWorker> workers, boolean freeSlotsOnly) {
        ConnectedWorker last = null;
        boolean handedOut = true;
        while (handedOut && live.queuedCount() > 0) {
            handedOut = false;
            for (ConnectedWorker worker : workers) {
                if ((freeSlotsOnly && !worker.hasFreeSlot()) || !worker.canTakeTask()
                        || (!freeSlotsOnly && !mayPrefetch())) {
                    continue;
                }
                if (handOut(worker)) {
                    handedOut = true;
                    last = worker;
                }
            }
        }
        return last;
    }

    /**
     * After {@code worker} gave back credit (a report of the end of an attempt): it alone may take tasks now. Every
     * other worker was offered the queue when it last had room, so a pass over all of them would only cost time in
     * proportion to the number of workers, for every task.
     */
    private void dispatchTo(ConnectedWorker worker) {
        if (stopped) {
            return;
        }
        try {
            while (live.queuedCount() > 0 && worker.canTakeTask() && (worker.hasFreeSlot() || mayPrefetch())
                    && handOut(worker)) {
                // one task went out; look for the next
            }
            askBackFor(worker);
            if (live.queuedCount() == 0) {
                roomHook.run();
            }
        } catch (RuntimeException e) {
            LOG.log(Level.SEVERE, "dispatch to worker " + worker.id() + " failed; trying a full pass in a second", e);
            loop.schedule(this::requestDispatch, 1, TimeUnit.SECONDS);
        }
    }

    /**
     * Whether a busy worker may take a task to hold until its slot frees: only while more tasks are queued than workers
     * are connected. A prefetched task waits behind whatever its worker runs, however long that takes; with a short
     * queue the worker that frees a slot next should have it, and that is seldom the one given it now. With a long
     * queue every worker has more coming anyway, and a prefetched task saves a round trip for each.
     */
    private boolean mayPrefetch() {
        return live.queuedCount() > registry.size();
    }

    /**
     * {@code idle} has a free slot that nothing queued may fill: the workers holding prefetched attempts it may run are
     * asked to give them back unstarted, one per free slot, newest first. Prefetch saves a round trip per task while
     * the queue is long; at its end a task held behind a long one would wait that out while this slot stands empty.
     * Each attempt is asked back once; one that started meanwhile runs on where it is. Costs nothing while no worker
     * holds prefetched attempts; else at most the number of those workers, each of which leaves the set once all it
     * holds beyond its slots has been asked for.
     */
    private void askBackFor(ConnectedWorker idle) {
        if (holdingPrefetched.isEmpty() || !idle.hasFreeSlot() || !idle.canTakeTask()) {
            return;
        }
        int wanted = idle.slots() - idle.running();
        for (Iterator<ConnectedWorker> holders = holdingPrefetched.iterator(); holders.hasNext() && wanted > 0; ) {
            ConnectedWorker holder = holders.next();
            List<Map.Entry<String, String>> askable = holder.askableBack();
            if (askable.isEmpty()) {
                // It holds no more than its slots (or is gone: closing empties it), or all beyond them were asked for
                // already (idle itself is among the first): it comes back here with its next prefetch (handOut).
                holders.remove();
                continue;
            }
            List<String> asked = new ArrayList<>();
            for (Map.Entry<String, String> attempt : askable) {
                if (wanted == 0) {
                    break;
                }
                Optional<Task> task = live.get(attempt.getKey());
                if (task.isPresent() && task.get().isCurrent(attempt.getValue())
                        && task.get().getState() == TaskState.ASSIGNED
                        && task.get().getRequires().satisfiedBy(idle.labels())
                        && holder.askBack(attempt.getKey(), attempt.getValue())) {
                    asked.add(attempt.getValue());
                    wanted--;
                }
            }
            if (!asked.isEmpty()) {
                LOG.fine(() -> "asking worker " + holder.id() + " to give back " + asked.size()
                        + " prefetched attempt(s) for idle worker " + idle.id());
                holder.channel().giveBack(asked);
            }
        }
    }

    /** Gives {@code worker} the first queued task it may run; false when there is none (or it is full). */
    private boolean handOut(ConnectedWorker worker) {
        if (!mayHandOut.getAsBoolean()) {
            return false;
        }
        Optional<Task> next = live.nextFor(worker.labels());
        if (next.isEmpty()) {
            return false;
        }
        Task task = next.get();
        Optional<Map<String, String>> secrets = openSecrets(task);
        if (secrets.isEmpty()) {
            // That task failed instead; the worker may take the next one.
            return true;
        }
        String attemptId = TaskIds.next();
        boolean prefetch = !worker.hasFreeSlot();
        if (!worker.reserve(task.getId(), attemptId)) {
            return false;
        }
        if (prefetch) {
            holdingPrefetched.add(worker);
        }
        assign(task, worker, attemptId, secrets.get());
        return true;
    }

    /**
     * The task's secretEnv in clear, or empty when it does not open (its key left the key file): the task then ends
     * FAILED saying so, before any worker is given it. Opened here, before the assignment, because an assignment that
     * cannot be sent would hold the worker's slot and the task for ever.
     */
    private Optional<Map<String, String>> openSecrets(Task task) {
        if (task.getSecretEnvSealed() == null) {
            return Optional.of(Map.of());
        }
        try {
            return Optional.of(store.openSecretEnv(task.getId(), task.getSecretEnvSealed()));
        } catch (RuntimeException e) {
            String why = "its secretEnv cannot be opened, so it cannot run: " + e.getMessage();
            LOG.severe(() -> "task " + task.getId() + " failed: " + why);
            if (task.failUndispatchable(why, Task.nowUtc())) {
                live.remove(task);
                save(task);
                TaskgridMetrics.taskEnded(TaskState.FAILED.name(), null, null);
            }
            return Optional.empty();
        }
    }

    private void assign(Task task, ConnectedWorker to, String attemptId, Map<String, String> secrets) {
        if (!task.hasSpec()) {
            store.loadSpec(task);
        }
        task.assign(to.id(), attemptId, Task.nowUtc());
        live.reindex(task);
        Dispatched assignment = Dispatched.of(task, secrets);
        CompletableFuture<Void> saved = save(task);
        // Sent once durable, with whatever else this event gives the same worker (see sendOutgoing).
        outgoing.computeIfAbsent(to, w -> new ArrayList<>()).add(new Outgoing(assignment, saved));
    }

    /** An assignment on its way out: sent once its write is durable. */
    private record Outgoing(Dispatched assignment, CompletableFuture<Void> saved) {
    }

    /**
     * Sends each worker what this event assigned it, in one message, once the writes are durable (they are written in
     * one commit, so they complete together). An assignment whose write failed is not sent and frees its slot.
     */
    private void sendOutgoing() {
        if (outgoing.isEmpty()) {
            return;
        }
        Map<ConnectedWorker, List<Outgoing>> ready = new LinkedHashMap<>(outgoing);
        outgoing.clear();
        ready.forEach((to, list) -> CompletableFuture.allOf(list.stream().map(Outgoing::saved)
                .toArray(CompletableFuture[]::new)).whenComplete((v, e) -> {
                    List<Dispatched> durable = new ArrayList<>(list.size());
                    for (Outgoing each : list) {
                        if (each.saved().isCompletedExceptionally()) {
                            execute(() -> to.release(each.assignment().taskId(), each.assignment().attemptId()));
                        } else {
                            durable.add(each.assignment());
                        }
                    }
                    try {
                        to.channel().sendAll(durable);
                    } catch (RuntimeException broken) {
                        // The stream broke under us; its cancel handler settles the attempts through workerGone.
                        LOG.log(Level.WARNING, "could not push " + durable.size() + " task(s) to worker " + to.id(),
                                broken);
                    }
                }));
    }

    private void expireLater(String taskId, String attemptId, String reason) {
        expireLater(taskId, attemptId, reason, settings.lostAfterSeconds());
    }

    private void expireLater(String taskId, String attemptId, String reason, long afterSeconds) {
        try {
            loop.schedule(() -> inBatch(() -> {
                Optional<Task> changed = reaper.expire(taskId, attemptId, reason, Task.nowUtc());
                if (changed.isPresent()) {
                    save(changed.get());
                    dispatchPass();
                }
            }), afterSeconds, TimeUnit.SECONDS);
        } catch (RejectedExecutionException e) {
            if (!stopped) {
                throw e;
            }
        }
    }

    /**
     * Writes the task's change, remembering it until durable so that later answers about the task wait for it. On
     * the loop thread, changes go into the batch of the event being handled, written together when it is done.
     */
    private CompletableFuture<Void> save(Task task) {
        CompletableFuture<Void> saved = batch != null ? batch.save(task) : store.save(task);
        track(task, saved);
        return saved;
    }

    private void track(Task task, CompletableFuture<Void> saved) {
        String id = task.getId();
        unwritten.put(id, saved);
        saved.whenComplete((v, e) -> execute(() -> unwritten.remove(id, saved)));
    }

    /** {@code answer}, once every write of the task made so far is durable. */
    private <T> CompletableFuture<T> afterWrites(String taskId, T answer) {
        CompletableFuture<Void> pending = unwritten.get(taskId);
        return pending == null ? CompletableFuture.completedFuture(answer)
                : pending.handle((v, e) -> answer);
    }

    /**
     * Saves {@code task}. Should that fail and {@code ended} (its state as the agent's report left it) be given, the
     * task is stored FAILED instead, so that it does not stay in flight in the database; without {@code ended} the
     * failure is passed on.
     */
    private CompletableFuture<Boolean> saveOrEndUnstorable(Task task, Task ended, String attemptId) {
        return save(task).handle((v, e) -> e == null ? CompletableFuture.completedFuture(true)
                : ended != null ? unstorable(ended, attemptId, e)
                : CompletableFuture.<Boolean>failedFuture(e)).thenCompose(f -> f);
    }

    /** The result could not be stored: store the task as FAILED without output instead (on the loop thread). */
    private CompletableFuture<Boolean> unstorable(Task ended, String attemptId, Throwable cause) {
        Throwable root = cause instanceof CompletionException && cause.getCause() != null ? cause.getCause() : cause;
        String why = "the master could not store the result of this attempt (" + root.getClass().getSimpleName()
                + (root.getMessage() == null ? "" : ": " + root.getMessage()) + "); its output is lost";
        return call(() -> store.saveUnstorable(ended, attemptId, why)).thenCompose(f -> f).thenApply(v -> true);
    }

    /** Runs {@code action} on the loop thread; the future fails if the master is stopping. */
    private <T> CompletableFuture<T> call(Callable<T> action) {
        CompletableFuture<T> result = new CompletableFuture<>();
        try {
            loop.execute(() -> inBatch(() -> {
                try {
                    result.complete(action.call());
                } catch (Throwable e) {
                    result.completeExceptionally(e);
                }
            }));
        } catch (RejectedExecutionException e) {
            result.completeExceptionally(new IllegalStateException("the master is stopping"));
        }
        return result;
    }

    private void execute(Runnable action) {
        try {
            loop.execute(() -> inBatch(action));
        } catch (RejectedExecutionException e) {
            if (!stopped) {
                throw e;
            }
        }
    }

    /** Runs one event on the loop thread, its writes collected and handed to the writer together at the end. */
    private void inBatch(Runnable action) {
        eventSince = System.nanoTime();
        batch = store.batch();
        try {
            action.run();
        } catch (RuntimeException | Error e) {
            // The loop is a ScheduledThreadPoolExecutor, which would keep a failure to itself: say it here.
            LOG.log(Level.SEVERE, "a dispatcher event failed; the tasks it touched stay as they were", e);
        } finally {
            TaskStore.Batch done = batch;
            batch = null;
            done.flush();
            sendOutgoing();
            eventSince = 0;
        }
    }
}
