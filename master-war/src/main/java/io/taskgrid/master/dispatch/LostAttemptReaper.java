package io.taskgrid.master.dispatch;

import io.taskgrid.master.metrics.TaskgridMetrics;
import io.taskgrid.master.task.Task;
import io.taskgrid.master.task.TaskState;

import java.time.LocalDateTime;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * Settles an attempt whose worker went away and did not come back in time. Until then nothing happens to it: a worker
 * that reconnects within the grace period claims its running attempts, and a worker that was only slow to answer is
 * not punished by running its task a second time somewhere else. Runs on the dispatcher's thread.
 */
final class LostAttemptReaper {

    private static final Logger LOG = Logger.getLogger(LostAttemptReaper.class.getName());

    private final LiveTasks live;
    private final WorkerRegistry registry;

    LostAttemptReaper(LiveTasks live, WorkerRegistry registry) {
        this.live = live;
        this.registry = registry;
    }

    /**
     * Called once the grace period of the attempt is over.
     *
     * @return the task, changed (back in the queue, LOST or CANCELLED), for the caller to store; empty when nothing
     *         changed (its worker came back, or the attempt was settled otherwise meanwhile)
     */
    Optional<Task> expire(String taskId, String attemptId, String reason, LocalDateTime now) {
        if (registry.holderOf(taskId, attemptId).isPresent()) {
            return Optional.empty();
        }
        Optional<Task> task = live.get(taskId);
        if (task.isEmpty()) {
            return Optional.empty();
        }
        Optional<TaskState> state = task.get().lost(attemptId, reason, now);
        if (state.isEmpty()) {
            return Optional.empty();
        }
        TaskgridMetrics.ATTEMPTS_LOST.inc();
        live.reindex(task.get());
        LOG.warning(() -> "task " + taskId + " attempt " + attemptId + " given up (" + reason + "): task is "
                + state.get());
        return task;
    }
}
