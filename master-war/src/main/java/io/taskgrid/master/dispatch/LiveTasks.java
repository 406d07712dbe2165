package io.taskgrid.master.dispatch;

import io.taskgrid.master.metrics.TaskgridMetrics;
import io.taskgrid.master.task.Labels;
import io.taskgrid.master.task.Task;
import io.taskgrid.master.task.TaskState;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Every task of this master that has not ended, in memory: the queue in dispatch order and the tasks in flight. The
 * lifecycle runs against these objects and the store persists what it decided, so the hot path never reads the
 * database to learn a task's state, and finding the next task to dispatch is a lookup in sorted maps (O(log n) in
 * the queue's length, however long it is, times the number of distinct label requirements).
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

    /**
     * The queue, split by what the tasks require of a worker: one sorted map per set of required labels (tasks that
     * require nothing share the empty set), each in dispatch order. A worker takes the first task of the sets it
     * satisfies, so a task that no connected worker can run waits without holding up the tasks behind it. There are
     * as many sets as distinct requirements among queued tasks, in practice a handful.
     */
    private final Map<Labels, TreeMap<String, Task>> queues = new HashMap<>();
    private final Map<String, Task> all = new HashMap<>();
    /** The key each queued task is filed under, to find it again when it leaves the queue. */
    private final Map<String, String> queueKeys = new HashMap<>();
    /**
     * Unfinished tasks (queued or in flight) per caller ({@code submittedBy}), whatever they require: each caller's
     * share of the queue is checked against it. Callers without an unfinished task have no entry.
     */
    private final Map<String, Integer> unfinishedBy = new HashMap<>();
    private volatile int queued;
    private volatile int total;

    /**
     * Dispatch order as one string: the higher priority first, then the older task (task ids are time-ordered UUIDs,
     * so the id is the order of submission).
     */
    static String queueKey(Task task) {
        return (char) ('0' + (Task.MAX_PRIORITY - task.getPriority())) + task.getId();
    }

    void add(Task task) {
        if (all.put(task.getId(), task) == null) {
            unfinishedBy.merge(callerOf(task), 1, Integer::sum);
        }
        reindex(task);
    }

    /** How many tasks of {@code caller} have not ended. */
    int unfinishedOf(String caller) {
        return unfinishedBy.getOrDefault(caller == null ? "" : caller, 0);
    }

    private static String callerOf(Task task) {
        return task.getSubmittedBy() == null ? "" : task.getSubmittedBy();
    }

    private void forgetCaller(Task task) {
        unfinishedBy.computeIfPresent(callerOf(task), (caller, n) -> n <= 1 ? null : n - 1);
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
            if (!queueKeys.containsKey(task.getId())) {
                String key = queueKey(task);
                queueKeys.put(task.getId(), key);
                queues.computeIfAbsent(task.getRequires(), r -> new TreeMap<>()).put(key, task);
            }
        } else {
            unqueue(task);
        }
        if (task.getState().isFinal() && all.remove(task.getId()) != null) {
            forgetCaller(task);
            // Counted once, here, where every path to a final state passes.
            TaskgridMetrics.taskEnded(task.getState().name(), task.getStartedAt(), task.getFinishedAt());
        }
        queued = queueKeys.size();
        total = all.size();
    }

    void remove(Task task) {
        unqueue(task);
        if (all.remove(task.getId()) != null) {
            forgetCaller(task);
        }
        queued = queueKeys.size();
        total = all.size();
    }

    private void unqueue(Task task) {
        String key = queueKeys.remove(task.getId());
        if (key != null) {
            TreeMap<String, Task> queue = queues.get(task.getRequires());
            queue.remove(key);
            if (queue.isEmpty()) {
                queues.remove(task.getRequires());
            }
        }
    }

    /**
     * The queued task a worker carrying {@code offered} should run next: the first in dispatch order among the tasks
     * whose requirements it meets; empty if it meets none.
     */
    Optional<Task> nextFor(Labels offered) {
        String bestKey = null;
        Task best = null;
        for (Map.Entry<Labels, TreeMap<String, Task>> queue : queues.entrySet()) {
            if (queue.getKey().satisfiedBy(offered)) {
                Map.Entry<String, Task> first = queue.getValue().firstEntry();
                if (bestKey == null || first.getKey().compareTo(bestKey) < 0) {
                    bestKey = first.getKey();
                    best = first.getValue();
                }
            }
        }
        return Optional.ofNullable(best);
    }

    int queuedCount() {
        return queued;
    }

    /** The {@code count} queued tasks last in dispatch order (the least urgent, then the newest), last first. */
    List<Task> lastQueued(int count) {
        List<Map.Entry<String, Task>> queuedTasks = new ArrayList<>();
        queues.values().forEach(queue -> queuedTasks.addAll(queue.entrySet()));
        queuedTasks.sort(Map.Entry.<String, Task>comparingByKey().reversed());
        return queuedTasks.stream().limit(Math.max(0, count)).map(Map.Entry::getValue).toList();
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
