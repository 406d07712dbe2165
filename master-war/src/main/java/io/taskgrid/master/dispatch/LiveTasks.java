package io.taskgrid.master.dispatch;

import io.taskgrid.master.metrics.TaskgridMetrics;
import io.taskgrid.master.task.Task;
import io.taskgrid.master.task.TaskState;

import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Every task of this master that has not ended, in memory: the queue in dispatch order and the tasks in flight. The
 * lifecycle runs against these objects and the store persists what it decided, so the hot path never reads the
 * database to learn a task's state, and finding the next task to dispatch is a lookup in a sorted map (O(log n) in
 * the queue's length, however long it is).
 *
 * <p><b>The one place that assumes a single master.</b> This master treats every unfinished task in its database as
 * its own: it loads them all at start and nothing else changes them. Several masters on one database would each need
 * to claim the rows they dispatch (a claim column and {@code SELECT ... FOR UPDATE SKIP LOCKED} in PostgreSQL) and
 * to hear of each other's submissions; the store and the migrations are shaped for that, this class is not.
 *
 * <p>Not thread-safe: only the dispatcher's thread touches it. {@link #queuedCount()} and {@link #inFlightCount()} may
 * be read from any thread.
 */
final class LiveTasks {

    /** Dispatch order: oldest first. Task ids are time-ordered UUIDs, so the id is the order. */
    private final TreeMap<String, Task> queue = new TreeMap<>();
    private final Map<String, Task> all = new HashMap<>();
    private volatile int queued;
    private volatile int total;

    void add(Task task) {
        all.put(task.getId(), task);
        reindex(task);
    }

    Optional<Task> get(String taskId) {
        return Optional.ofNullable(all.get(taskId));
    }

    /**
     * Files the task where its state says after a lifecycle change: in the queue while QUEUED, out of it otherwise,
     * and out of memory altogether once final.
     */
    void reindex(Task task) {
        if (task.getState() == TaskState.QUEUED) {
            queue.put(task.getId(), task);
        } else {
            queue.remove(task.getId());
        }
        if (task.getState().isFinal() && all.remove(task.getId()) != null) {
            // Counted once, here, where every path to a final state passes.
            TaskgridMetrics.taskEnded(task.getState().name(), task.getStartedAt(), task.getFinishedAt());
        }
        queued = queue.size();
        total = all.size();
    }

    void remove(Task task) {
        queue.remove(task.getId());
        all.remove(task.getId());
        queued = queue.size();
        total = all.size();
    }

    /** The queued task to dispatch next, if any. */
    Optional<Task> nextQueued() {
        Map.Entry<String, Task> first = queue.firstEntry();
        return first == null ? Optional.empty() : Optional.of(first.getValue());
    }

    /** The queued tasks after {@code taskId} in dispatch order, for skipping one that cannot go out now. */
    Optional<Task> queuedAfter(String taskId) {
        Map.Entry<String, Task> next = queue.higherEntry(taskId);
        return next == null ? Optional.empty() : Optional.of(next.getValue());
    }

    int queuedCount() {
        return queued;
    }

    /** Tasks assigned or running (on a connected worker or one within its grace period); readable from any thread. */
    int inFlightCount() {
        return Math.max(0, total - queued);
    }

    int size() {
        return all.size();
    }

    Collection<Task> all() {
        return all.values();
    }
}
