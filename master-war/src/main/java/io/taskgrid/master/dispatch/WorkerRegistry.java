package io.taskgrid.master.dispatch;

import io.taskgrid.master.task.Labels;
import jakarta.enterprise.context.ApplicationScoped;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The workers connected right now, in the order they connected, and the round-robin cursor over them. A worker is in
 * here exactly while its assignment stream is open.
 */
@ApplicationScoped
public class WorkerRegistry {

    private final Map<String, ConnectedWorker> workers = new LinkedHashMap<>();
    private int cursor;

    public synchronized void register(ConnectedWorker worker) throws WorkerIdInUseException {
        if (workers.containsKey(worker.id())) {
            throw new WorkerIdInUseException(worker.id());
        }
        workers.put(worker.id(), worker);
    }

    /** Removes this connection; a newer connection that took over the same id stays. */
    public synchronized boolean remove(ConnectedWorker worker) {
        return workers.remove(worker.id(), worker);
    }

    public synchronized Optional<ConnectedWorker> get(String id) {
        return Optional.ofNullable(workers.get(id));
    }

    /** The connected worker that holds this attempt, if any. */
    public synchronized Optional<ConnectedWorker> holderOf(String taskId, String attemptId) {
        return workers.values().stream().filter(w -> w.holds(taskId, attemptId)).findFirst();
    }

    public synchronized List<ConnectedWorker> all() {
        return new ArrayList<>(workers.values());
    }

    /** How many tasks could go out right now: free slots on workers whose stream is ready. */
    public synchronized int dispatchableSlots() {
        int free = 0;
        for (ConnectedWorker worker : workers.values()) {
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
        List<ConnectedWorker> ring = new ArrayList<>(workers.values());
        int n = ring.size();
        List<ConnectedWorker> available = new ArrayList<>(n);
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
        int index = 0;
        for (ConnectedWorker each : workers.values()) {
            if (each == worker) {
                cursor = (index + 1) % workers.size();
                return;
            }
            index++;
        }
    }

    /**
     * Why a queued task that requires {@code required} is not running, in words for its {@code GET}: no connected
     * worker carries the labels, or those that do are busy or draining.
     */
    public synchronized String whyWaiting(Labels required) {
        if (workers.isEmpty()) {
            return "no worker is connected";
        }
        int eligible = 0;
        int taking = 0;
        String missing = null;
        for (ConnectedWorker worker : workers.values()) {
            Optional<String> lacks = required.missingFrom(worker.labels());
            if (lacks.isPresent()) {
                missing = missing == null ? lacks.get() : missing;
                continue;
            }
            eligible++;
            if (!worker.isDraining()) {
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
