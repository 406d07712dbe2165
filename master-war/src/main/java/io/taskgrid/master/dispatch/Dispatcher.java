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

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Hands queued tasks to workers with a free slot, oldest task first, workers in turn.
 *
 * <p>Nothing here polls. A dispatch pass runs when something could let a task go out: a task was submitted, a worker
 * connected, a slot was freed, or a stream that was full became ready again. Passes and the bookkeeping for a lost
 * worker run on one thread, one after the other: that is what makes "reserve a slot, mark the task ASSIGNED, push it"
 * safe against a worker vanishing half way, because the lost worker's attempts are settled only after the pass that
 * may have given it one has finished.
 */
@ApplicationScoped
public class Dispatcher {

    private static final Logger LOG = Logger.getLogger(Dispatcher.class.getName());
    private static final int BATCH = 64;
    private static final long RETRY_AFTER_FAILURE_MS = 1000;

    private final TaskStore store;
    private final WorkerRegistry registry;

    @Resource(lookup = "java:comp/DefaultManagedThreadFactory")
    ManagedThreadFactory threadFactory;

    private ScheduledExecutorService loop;
    private final AtomicBoolean passRequested = new AtomicBoolean();
    private volatile boolean stopped;

    @Inject
    public Dispatcher(TaskStore store, WorkerRegistry registry) {
        this.store = store;
        this.registry = registry;
    }

    /** For the CDI proxy only. */
    protected Dispatcher() {
        this(null, null);
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

    /** The worker's stream ended: it takes nothing more, and what it held is settled after any running pass. */
    public void workerGone(ConnectedWorker worker, String why) {
        Map<String, String> inFlight = worker.close();
        registry.remove(worker);
        LOG.info(() -> "worker " + worker.id() + " disconnected (" + why + "), " + inFlight.size() + " task(s) in flight");
        if (stopped || inFlight.isEmpty()) {
            return;
        }
        String reason = "worker " + worker.id() + " disconnected while the task was in flight (" + why + ")";
        execute(() -> inFlight.forEach((taskId, attemptId) -> {
            if (store.markLost(taskId, attemptId, reason)) {
                LOG.warning(() -> "task " + taskId + " LOST: " + reason);
            }
        }));
    }

    /** The attempt is over on its worker: its slot is free for the next task at once. */
    public void attemptEnded(String workerId, String taskId, String attemptId) {
        registry.get(workerId).ifPresent(worker -> worker.release(taskId, attemptId));
        requestDispatch();
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
        } catch (java.util.concurrent.RejectedExecutionException e) {
            if (!stopped) {
                throw e;
            }
        }
    }
}
