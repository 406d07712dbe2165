package io.taskgrid.master.task;

/** What became of a report that an attempt ended. */
public enum Settled {
    /** The task is now in a final state. */
    FINAL,
    /** The task went back to the queue for a new attempt (a retry, a refusal, a lost worker). */
    REQUEUED,
    /** The attempt was not the task's current one, or the task was no longer in flight: nothing changed. */
    IGNORED
}
