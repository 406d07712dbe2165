package io.taskgrid.master.dispatch;

import io.taskgrid.master.task.TaskState;
import io.taskgrid.master.task.TaskStore;

import java.util.Optional;
import java.util.logging.Logger;

/**
 * Settles an attempt whose worker went away and did not come back in time. Until then nothing happens to it: a worker
 * that reconnects within the grace period claims its running attempts, and a worker that was only slow to answer is
 * not punished by running its task a second time somewhere else.
 */
final class LostAttemptReaper {

    private static final Logger LOG = Logger.getLogger(LostAttemptReaper.class.getName());

    private final TaskStore store;
    private final WorkerRegistry registry;

    LostAttemptReaper(TaskStore store, WorkerRegistry registry) {
        this.store = store;
        this.registry = registry;
    }

    /**
     * Called once the grace period of the attempt is over.
     *
     * @return true if the task went back to the queue
     */
    boolean expire(String taskId, String attemptId, String reason) {
        if (registry.holderOf(taskId, attemptId).isPresent()) {
            return false; // its worker came back and claimed it
        }
        Optional<TaskState> now = store.expireLostAttempt(taskId, attemptId, reason);
        now.ifPresent(state -> LOG.warning(() -> "task " + taskId + " attempt " + attemptId + " given up ("
                + reason + "): task is " + state));
        return now.filter(state -> state == TaskState.QUEUED).isPresent();
    }
}
