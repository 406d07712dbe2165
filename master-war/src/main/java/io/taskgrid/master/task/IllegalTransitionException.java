package io.taskgrid.master.task;

/** A code path tried a move that {@link TaskTransitions} does not allow. */
public class IllegalTransitionException extends RuntimeException {
    public IllegalTransitionException(String taskId, TaskState from, TaskState to) {
        super("task " + taskId + " cannot go from " + from + " to " + to);
    }
}
