package io.taskgrid.master.dispatch;

import io.taskgrid.master.task.Task;
import io.taskgrid.master.task.TaskIds;
import io.taskgrid.master.task.TaskStore;
import jakarta.annotation.PostConstruct;
import jakarta.annotation.PreDestroy;
import jakarta.annotation.Resource;
import jakarta.enterprise.concurrent.ManagedThreadFactory;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Hands queued tasks to workers with a free slot, oldest task first, workers in turn; and keeps track of attempts
 * whose worker went away.
 *
 * <p>Nothing here polls. A dispatch pass runs when something could let a task go out: a task was submitted, a worker
 * connected, a slot was freed, or a stream that was full became ready again. Passes, the checking of a reconnected
 * worker's claims and the expiry of lost attempts run on one thread, one after the other: that is what makes
 * "reserve a slot, mark the task ASSIGNED, push it" safe against a worker vanishing half way.
 */
@ApplicationScoped
public class Dispatcher {

    private static final Logger LOG = Logger.getLogger(Dispatcher.class.getName());
    private static final int BATCH = 64;
    private static final long RETRY_AFTER_FAILURE_MS = 1000;

    private final TaskStore store;
    private final WorkerRegistry registry;
    private final long lostAfterSeconds;
    private final LostAttemptReaper reaper;

    @Resource(lookup = "java:comp/DefaultManagedThreadFactory")
    ManagedThreadFactory threadFactory;

    private ScheduledExecutorService loop;
    private final AtomicBoolean passRequested = new AtomicBoolean();
    private volatile boolean stopped;

    @Inject
    public Dispatcher(TaskStore store, WorkerRegistry registry,
                      @ConfigProperty(name = "taskgrid.lost.after.seconds", defaultValue = "30") long lostAfterSeconds) {
        this.store = store;
        this.registry = registry;
        this.lostAfterSeconds = lostAfterSeconds;
        this.reaper = new LostAttemptReaper(store, registry);
    }

    /** For the CDI proxy only. */
    protected Dispatcher() {
        this(null, null, 30);
    }

    @PostConstruct
    void start() {
        ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(1, threadFactory);
        executor.setRemoveOnCancelPolicy(true);
        loop = executor;
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
            loop.shutdownNow();
        }
    }

    /** Asks for a dispatch pass; requests that arrive while one is pending fold into it. */
    public void requestDispatch() {
        if (!stopped && passRequested.compareAndSet(false, true)) {
            execute(this::dispatchPass);
        }
    }

    /**
     * A fresh master has no workers yet: every attempt still in flight gets the grace period from now, for its agent
     * to reconnect and claim it.
     */
    public void startedWithAttemptsInFlight() {
        List<Object[]> inFlight = store.inFlightAttempts();
        if (!inFlight.isEmpty()) {
            LOG.warning(inFlight.size() + " task(s) were in flight when the master stopped; their agents have "
                    + lostAfterSeconds + " s to reconnect and claim them");
        }
        String reason = "the master restarted while the task was in flight and its worker did not reclaim it within "
                + lostAfterSeconds + " s";
        for (Object[] attempt : inFlight) {
            expireLater((String) attempt[0], (String) attempt[1], reason);
        }
    }

    /**
     * A worker (re)connected naming the attempts it still runs. Their slots are already reserved; here each claim is
     * checked against the store: an attempt that is no longer its task's current one, or whose cancel was asked for,
     * is stopped on the agent.
     */
    public void workerConnected(ConnectedWorker worker, Map<String, String> claimed) {
        if (!claimed.isEmpty()) {
            execute(() -> claimed.forEach((taskId, attemptId) -> {
                Optional<Boolean> cancelRequested = store.cancelRequestedIfCurrent(taskId, attemptId);
                if (cancelRequested.isEmpty()) {
                    LOG.info(() -> "worker " + worker.id() + " still runs attempt " + attemptId + " of task " + taskId
                            + ", which is no longer current: stopping it");
                    worker.channel().cancel(taskId, attemptId);
                } else if (cancelRequested.get()) {
                    worker.channel().cancel(taskId, attemptId);
                } else {
                    LOG.info(() -> "worker " + worker.id() + " reclaimed attempt " + attemptId + " of task " + taskId);
                }
            }));
        }
        requestDispatch();
    }

    /**
     * The worker's stream ended: it takes nothing more, and what it held gets the grace period to be reclaimed by the
     * same worker reconnecting.
     */
    public void workerGone(ConnectedWorker worker, String why) {
        Map<String, String> inFlight = worker.close();
        registry.remove(worker);
        LOG.info(() -> "worker " + worker.id() + " disconnected (" + why + "), " + inFlight.size()
                + " task(s) in flight" + (inFlight.isEmpty() ? "" : "; they wait " + lostAfterSeconds + " s for it"));
        if (stopped) {
            return;
        }
        String reason = "worker " + worker.id() + " disconnected while the task was in flight (" + why
                + ") and did not come back within " + lostAfterSeconds + " s";
        inFlight.forEach((taskId, attemptId) -> expireLater(taskId, attemptId, reason));
    }

    /** The attempt is over on its worker: its slot is free for the next task at once. */
    public void attemptEnded(ConnectedWorker worker, String taskId, String attemptId) {
        worker.release(taskId, attemptId);
        requestDispatch();
    }

    /** The task's cancel was recorded while it was in flight: its worker, if connected, stops it now. */
    public void cancelInFlight(String taskId, String attemptId) {
        registry.holderOf(taskId, attemptId).ifPresent(worker -> worker.channel().cancel(taskId, attemptId));
    }

    private void expireLater(String taskId, String attemptId, String reason) {
        try {
            loop.schedule(() -> {
                try {
                    if (reaper.expire(taskId, attemptId, reason)) {
                        requestDispatch();
                    }
                } catch (RuntimeException e) {
                    LOG.log(Level.SEVERE, "could not settle lost attempt " + attemptId + "; trying again shortly", e);
                    expireLater(taskId, attemptId, reason);
                }
            }, lostAfterSeconds, TimeUnit.SECONDS);
        } catch (RejectedExecutionException e) {
            if (!stopped) {
                throw e;
            }
        }
    }

    private void dispatchPass() {
        passRequested.set(false);
        try {
            while (!stopped && dispatchBatch() > 0) {
                // keep going while tasks and free slots remain
            }
        } catch (RuntimeException e) {
            LOG.log(Level.SEVERE, "dispatch pass failed; retrying in " + RETRY_AFTER_FAILURE_MS + " ms", e);
            if (!stopped) {
                loop.schedule(this::requestDispatch, RETRY_AFTER_FAILURE_MS, TimeUnit.MILLISECONDS);
            }
        }
    }

    /** @return how many tasks went out */
    private int dispatchBatch() {
        int free = registry.dispatchableSlots();
        if (free == 0) {
            return 0;
        }
        List<String> queued = store.oldestQueuedIds(Math.min(free, BATCH));
        int sent = 0;
        for (String taskId : queued) {
            Optional<ConnectedWorker> next = registry.nextAvailable();
            if (next.isEmpty()) {
                break;
            }
            ConnectedWorker worker = next.get();
            String attemptId = TaskIds.next();
            if (!worker.reserve(taskId, attemptId)) {
                continue;
            }
            Optional<Task> assigned = store.assign(taskId, worker.id(), attemptId);
            if (assigned.isEmpty()) {
                worker.release(taskId, attemptId);
                continue;
            }
            try {
                worker.channel().send(assigned.get(), attemptId);
                sent++;
            } catch (RuntimeException e) {
                // The stream broke under us; its cancel handler settles the attempt through workerGone.
                LOG.log(Level.WARNING, "could not push task " + taskId + " to worker " + worker.id(), e);
            }
        }
        return sent;
    }

    private void execute(Runnable action) {
        try {
            loop.execute(action);
        } catch (RejectedExecutionException e) {
            if (!stopped) {
                throw e;
            }
        }
    }
}
