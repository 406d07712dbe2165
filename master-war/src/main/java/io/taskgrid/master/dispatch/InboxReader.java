package io.taskgrid.master.dispatch;

import io.taskgrid.master.cluster.ClusterRequests;
import io.taskgrid.master.task.Task;
import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.task.WriteFence;
import io.taskgrid.master.text.SafeText;

import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.logging.Logger;

/**
 * The active master's side of the changes other masters take: the tasks they stored go into this master's queue, and
 * their cancels and drains are carried out here, where the tasks in flight and the agents' streams are. Runs on the
 * wake-up thread ({@code InboxWakeups}), one pass at a time; each request is deleted only once its effect is durable,
 * and a pass that fails leaves the rest for the next.
 */
public final class InboxReader {

    private static final Logger LOG = Logger.getLogger(InboxReader.class.getName());
    private static final int REQUESTS_AT_ONCE = 500;

    private final TaskStore store;
    private final ClusterRequests requests;
    private final Dispatcher dispatcher;
    private final WorkerRegistry registry;
    private final WriteFence fence;
    private final Runnable workersChanged;
    private final long drainWaitsNanos;
    /** Drains of workers not connected here, by request: when this master first saw each. */
    private final Map<Long, Long> drainsWaiting = new HashMap<>();

    /**
     * @param workersChanged run after a pass drained a worker and before its requests are deleted, so that the master
     *                       that asked reads the worker's new state once it sees its request gone
     * @param drainWaits     how long a drain of a worker that is not connected here waits for it (the agents of a
     *                       master that died reach the next one within {@code lostAfter}), before it is dropped
     */
    public InboxReader(TaskStore store, ClusterRequests requests, Dispatcher dispatcher, WorkerRegistry registry,
                       WriteFence fence, Runnable workersChanged, java.time.Duration drainWaits) {
        this.store = store;
        this.requests = requests;
        this.dispatcher = dispatcher;
        this.registry = registry;
        this.fence = fence;
        this.workersChanged = workersChanged;
        this.drainWaitsNanos = drainWaits.toNanos();
    }

    /**
     * Takes every task and request waiting now. The requests are read first: a request names a task that was stored
     * before it, so the tasks taken after that read include every one they name. Each request is deleted once its
     * effect is durable; one whose effect failed stays for the next pass, without holding up the others.
     */
    public synchronized void takeAll() {
        try {
            List<ClusterRequests.Request> waiting = requests.waiting(REQUESTS_AT_ONCE);
            Map<String, String> cancelAsked = new HashMap<>();
            for (ClusterRequests.Request request : waiting) {
                if (request.kind() == ClusterRequests.Kind.CANCEL) {
                    cancelAsked.putIfAbsent(request.target(), request.askedBy());
                }
            }
            // Tasks a cancel names that no master holds yet: taken here, and cancelled as they are taken.
            List<Task> named = store.claimNamed(cancelAsked.keySet(), Dispatcher.SPEC_IN_MEMORY_CHARS, fence);
            if (!named.isEmpty()) {
                await(dispatcher.adopt(named, cancelAsked));
            }
            claimWhatFits(cancelAsked);
            giveBackSurplus();
            if (waiting.isEmpty()) {
                return;
            }
            List<ClusterRequests.Request> done = new ArrayList<>();
            Map<ClusterRequests.Request, CompletableFuture<Dispatcher.Cancellation>> cancels = new LinkedHashMap<>();
            boolean drained = false;
            for (ClusterRequests.Request request : waiting) {
                switch (request.kind()) {
                    case CANCEL -> cancels.put(request, dispatcher.cancelHeld(request.target(), request.askedBy()));
                    case DRAIN -> {
                        boolean here = registry.get(request.target()).map(worker -> {
                            if (worker.drain("drained by " + request.askedBy(), request.askedBy())) {
                                LOG.info(() -> "worker " + worker.id() + " drained by "
                                        + SafeText.oneLine(request.askedBy(), 128) + " (through another master)");
                            }
                            return true;
                        }).orElse(false);
                        drained |= here;
                        // A worker listed by a master that died a moment ago reconnects here within lostAfter: its
                        // drain waits for it that long rather than being dropped by the first look after a takeover.
                        long firstSeen = drainsWaiting.computeIfAbsent(request.seq(), seq -> System.nanoTime());
                        if (here || System.nanoTime() - firstSeen > drainWaitsNanos) {
                            drainsWaiting.remove(request.seq());
                            done.add(request);
                        }
                    }
                }
            }
            cancels.forEach((request, cancel) -> {
                try {
                    Dispatcher.Cancellation result = await(cancel);
                    if (result == null) {
                        // Not held here: another master holds it (and carries it out), or it ended or is gone. Read
                        // here, on the wake-up's thread, not on the dispatcher's.
                        result = store.findHeader(request.target()).filter(task -> !task.getState().isFinal())
                                .map(task -> new Dispatcher.Cancellation(Dispatcher.Cancellation.Outcome.NOT_TAKEN_YET,
                                        task))
                                .orElse(new Dispatcher.Cancellation(Dispatcher.Cancellation.Outcome.ALREADY_FINAL, null));
                    }
                    if (result.outcome() != Dispatcher.Cancellation.Outcome.NOT_TAKEN_YET) {
                        done.add(request);
                    }
                } catch (RuntimeException e) {
                    LOG.warning("the cancel of task " + request.target() + " asked through another master failed ("
                            + SafeText.oneLine(e.getMessage(), 200) + "); tried again at the next wake-up");
                }
            });
            if (drained) {
                workersChanged.run();
            }
            requests.carriedOut(done, fence);
        } catch (SQLException e) {
            throw new IllegalStateException("the database: " + e.getMessage(), e);
        }
    }

    /**
     * Claims as many waiting tasks as this master's agents have room for (free slots and prefetch, less what it
     * holds), of those they can run, most urgent first. Every master claims only that much, so a master with idle
     * agents finds tasks left to claim, and priorities hold across the masters as far as their agents' room goes.
     */
    private void claimWhatFits(Map<String, String> cancelAsked) throws SQLException {
        int room = dispatcher.room();
        while (room > 0) {
            List<Task> claimed = store.claimWaiting(room, Dispatcher.SPEC_IN_MEMORY_CHARS, fence,
                    dispatcher::someWorkerRuns);
            if (claimed.isEmpty()) {
                return;
            }
            await(dispatcher.adopt(claimed, cancelAsked));
            int count = claimed.size();
            LOG.fine(() -> count + " waiting task(s) claimed");
            if (count < Math.min(room, TaskStore.CLAIM_AT_ONCE)) {
                return;
            }
            room = dispatcher.room();
        }
    }

    /** Queued tasks this master's agents no longer have room for (they left, or drain) go back to the others. */
    private void giveBackSurplus() throws SQLException {
        List<Task> surplus = await(dispatcher.takeOutSurplus());
        if (surplus.isEmpty()) {
            return;
        }
        try {
            int given = store.giveBack(surplus.stream().map(Task::getId).toList(), fence);
            LOG.info(() -> given + " queued task(s) this master's agents have no room for given back to the others");
        } catch (SQLException | RuntimeException e) {
            // The give-back may have committed though its answer was lost: only what is still this master's comes back.
            List<String> owned;
            try {
                owned = store.stillOwned(surplus.stream().map(Task::getId).toList());
            } catch (SQLException unknown) {
                // Unknown either way: held again rather than lost (a master that claimed them meanwhile would run
                // them too), and said loudly.
                LOG.severe("a give-back failed and whether it was stored is unknown (" + unknown.getMessage()
                        + "); the tasks are held again: " + surplus.stream().map(Task::getId).toList());
                owned = surplus.stream().map(Task::getId).toList();
            }
            java.util.Set<String> mine = new java.util.HashSet<>(owned);
            await(dispatcher.adopt(surplus.stream().filter(task -> mine.contains(task.getId())).toList(), Map.of()));
            throw e;
        }
    }

    private static <T> T await(CompletableFuture<T> effect) {
        try {
            return effect.get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("a change other masters took was not stored within 30 s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted");
        }
    }
}
