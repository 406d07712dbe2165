package io.taskgrid.master.dispatch;

import io.taskgrid.master.task.Labels;
import jakarta.enterprise.context.ApplicationScoped;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The workers connected right now, in the order they connected, and the round-robin cursor over them. A worker is in
 * here exactly while its assignment stream is open. How many there may be is bounded by the caller of
 * {@link #register(ConnectedWorker, int)} ({@code taskgrid.workers.max}): everything here is held in memory and looked
 * through by every dispatch.
 */
@ApplicationScoped
public class WorkerRegistry {

    /** In the order they connected: the round-robin ring. */
    private final List<ConnectedWorker> ring = new ArrayList<>();
    private final Map<String, ConnectedWorker> workers = new HashMap<>();
    /** The same workers by id, in id order: for {@code GET /workers}, a page at a time. */
    private final TreeMap<String, ConnectedWorker> byId = new TreeMap<>();
    private int cursor;

    /** The registry is full: {@code max} workers are connected. */
    public static final class Full extends Exception {
        private final int max;

        Full(int max) {
            super(max + " workers are connected, the most this master takes (taskgrid.workers.max)");
            this.max = max;
        }

        public int max() {
            return max;
        }
    }

    /** Registers without a bound on the count; for tests. */
    public void register(ConnectedWorker worker) throws WorkerIdInUseException {
        try {
            register(worker, Integer.MAX_VALUE);
        } catch (Full e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Registers {@code worker} unless its id is connected already or {@code max} workers are.
     *
     * @throws WorkerIdInUseException when a live connection holds the id
     * @throws Full                   when {@code max} workers are connected
     */
    public synchronized void register(ConnectedWorker worker, int max) throws WorkerIdInUseException, Full {
        if (workers.containsKey(worker.id())) {
            throw new WorkerIdInUseException(worker.id());
        }
        if (workers.size() >= max) {
            throw new Full(max);
        }
        workers.put(worker.id(), worker);
        byId.put(worker.id(), worker);
        ring.add(worker);
    }

    /** Removes this connection; a newer connection that took over the same id stays. */
    public synchronized boolean remove(ConnectedWorker worker) {
        if (!workers.remove(worker.id(), worker)) {
            return false;
        }
        byId.remove(worker.id());
        int index = ring.indexOf(worker);
        ring.remove(index);
        if (index < cursor) {
            cursor--;
        }
        if (cursor >= ring.size()) {
            cursor = 0;
        }
        return true;
    }

    public synchronized Optional<ConnectedWorker> get(String id) {
        return Optional.ofNullable(workers.get(id));
    }

    /** How many workers are connected. */
    public synchronized int size() {
        return workers.size();
    }

    /**
     * The connected worker that holds this attempt, or claimed it on reconnecting and is about to be checked, if any.
     */
    public synchronized Optional<ConnectedWorker> holderOf(String taskId, String attemptId) {
        for (ConnectedWorker worker : ring) {
            if (worker.keeps(taskId, attemptId)) {
                return Optional.of(worker);
            }
        }
        return Optional.empty();
    }

    public synchronized List<ConnectedWorker> all() {
        return new ArrayList<>(ring);
    }

    /** At most {@code limit} workers in id order, with ids after {@code afterId} (all when null). */
    public synchronized List<ConnectedWorker> page(String afterId, int limit) {
        List<ConnectedWorker> page = new ArrayList<>(Math.min(limit, byId.size()));
        for (ConnectedWorker worker : (afterId == null ? byId : byId.tailMap(afterId, false)).values()) {
            if (page.size() == limit) {
                break;
            }
            page.add(worker);
        }
        return page;
    }

    /** How many tasks could go out right now: free slots on workers whose stream is ready. */
    public synchronized int dispatchableSlots() {
        int free = 0;
        for (ConnectedWorker worker : ring) {
            if (worker.canTakeTask()) {
                free += worker.slots() - worker.running();
            }
        }
        return free;
    }

    /**
     * The workers that can take a task now, in turn: starting after the last one given a task, so that consecutive
     * tasks spread over the pool instead of filling the first worker's slots. The dispatcher gives the task to the
     * first of them that may run it and then calls {@link #tookTurn}.
     */
    public synchronized List<ConnectedWorker> availableInTurn() {
        int n = ring.size();
        List<ConnectedWorker> available = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ConnectedWorker candidate = ring.get((cursor + i) % n);
            if (candidate.canTakeTask()) {
                available.add(candidate);
            }
        }
        return available;
    }

    /** The round-robin cursor moves past {@code worker}, which was just given a task. */
    public synchronized void tookTurn(ConnectedWorker worker) {
        int index = ring.indexOf(worker);
        if (index >= 0) {
            cursor = (index + 1) % ring.size();
        }
    }

    /**
     * Why a queued task that requires {@code required} is not running, in words for its {@code GET}: no connected
     * worker carries the labels, or those that do are busy or draining.
     */
    public synchronized String whyWaiting(Labels required) {
        return whyWaiting(required, ring.stream().map(w -> new Offer(w.labels(), w.isDraining())).toList());
    }

    /** What a worker offers a queued task: its labels, and whether it takes tasks at all. */
    public record Offer(Labels labels, boolean draining) {
    }

    /** As {@link #whyWaiting(Labels)}, for the workers given (another master's, say). */
    public static String whyWaiting(Labels required, List<Offer> workers) {
        if (workers.isEmpty()) {
            return "no worker is connected";
        }
        int eligible = 0;
        int taking = 0;
        String missing = null;
        for (Offer worker : workers) {
            Optional<String> lacks = required.missingFrom(worker.labels());
            if (lacks.isPresent()) {
                missing = missing == null ? lacks.get() : missing;
                continue;
            }
            eligible++;
            if (!worker.draining()) {
                taking++;
            }
        }
        if (eligible == 0) {
            return required.asMap().size() == 1 ? "no connected worker has " + missing
                    : "no connected worker has all of " + required.canonical().replace(",", ", ");
        }
        if (taking == 0) {
            return "every worker that can run it is draining (" + eligible + ")";
        }
        return "waiting for a free slot on one of the " + taking + " worker(s) that can run it";
    }
}
