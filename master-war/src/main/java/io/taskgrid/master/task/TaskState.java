package io.taskgrid.master.task;

/**
 * Where a task stands. Which state may follow which is decided in one place only: {@link TaskTransitions}.
 */
public enum TaskState {
    /** Stored and waiting, first in first out, for a worker with a free slot. */
    QUEUED,
    /** Pushed to one worker's stream; the worker has not said it started yet. */
    ASSIGNED,
    /** The worker reported that the process started. */
    RUNNING,
    /** The command exited with status 0. */
    SUCCEEDED,
    /** The command exited non-zero, or could not be started at all. */
    FAILED,
    /** The command ran past its timeout and its process tree was killed. */
    TIMED_OUT,
    /** Stopped on request before it finished. */
    CANCELLED,
    /** The worker that had it went away, or the master restarted while it was in flight; its outcome is unknown. */
    LOST;

    public boolean isFinal() {
        return TaskTransitions.allowedFrom(this).isEmpty();
    }
}
