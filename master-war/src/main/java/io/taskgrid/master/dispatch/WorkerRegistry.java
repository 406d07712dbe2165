package io.taskgrid.master.dispatch;

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
     * The next worker, in turn, that can take a task now; empty if none can. The cursor moves past the worker
     * returned, so consecutive tasks spread over the pool instead of filling the first worker's slots.
     */
    public synchronized Optional<ConnectedWorker> nextAvailable() {
        List<ConnectedWorker> ring = new ArrayList<>(workers.values());
        int n = ring.size();
        for (int i = 0; i < n; i++) {
            int index = (cursor + i) % n;
            ConnectedWorker candidate = ring.get(index);
            if (candidate.canTakeTask()) {
                cursor = (index + 1) % n;
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }
}
