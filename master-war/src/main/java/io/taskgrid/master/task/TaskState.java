package io.taskgrid.master.task;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Where a task stands. Which state may follow which is decided in one place only: {@link TaskTransitions}.
 */
public enum TaskState {
    /** Stored and waiting for a worker with a free slot: the highest priority first, the oldest first within one. */
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

    /** The states of a task that has not ended: queued, or held by a worker. */
    public static Set<TaskState> unfinished() {
        return Arrays.stream(values()).filter(s -> !s.isFinal()).collect(Collectors.toCollection(() -> EnumSet.noneOf(TaskState.class)));
    }

    /** The states a task ends in. */
    public static Set<TaskState> finished() {
        return Arrays.stream(values()).filter(TaskState::isFinal).collect(Collectors.toCollection(() -> EnumSet.noneOf(TaskState.class)));
    }

    /**
     * {@code states} as an SQL list, {@code ('QUEUED', 'ASSIGNED')}: made from this enum, so that a query cannot
     * forget a state the lifecycle gained. The names are this enum's own, never a client's text.
     */
    public static String sqlList(Set<TaskState> states) {
        return states.stream().map(s -> "'" + s.name() + "'").collect(Collectors.joining(", ", "(", ")"));
    }
}
