package io.taskgrid.master.task;

/** What asking to cancel a task did. */
public enum CancelOutcome {
    /** It was queued: it is CANCELLED now. */
    CANCELLED,
    /** It is in flight: its cancel is recorded, and its worker must stop it. */
    IN_FLIGHT,
    /** It had already ended; nothing changed. */
    ALREADY_FINAL
}
