package io.taskgrid.master.task;

import java.util.Collections;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

import static io.taskgrid.master.task.TaskState.ASSIGNED;
import static io.taskgrid.master.task.TaskState.CANCELLED;
import static io.taskgrid.master.task.TaskState.FAILED;
import static io.taskgrid.master.task.TaskState.LOST;
import static io.taskgrid.master.task.TaskState.QUEUED;
import static io.taskgrid.master.task.TaskState.RUNNING;
import static io.taskgrid.master.task.TaskState.SUCCEEDED;
import static io.taskgrid.master.task.TaskState.TIMED_OUT;

/**
 * The task state machine as a single table, so that every code path that moves a task asks the same question and a
 * reviewer can see the whole lifecycle at a glance. Pure: no I/O, no clock.
 *
 * <p>QUEUED may go straight to FAILED when the task can never be handed out: its secretEnv no longer opens (the key
 * that sealed it left the key file). ASSIGNED may go straight to a final state because an agent that cannot start a command (missing working
 * directory, say) reports FINISHED without ever reporting STARTED. ASSIGNED and RUNNING go back to QUEUED for a new
 * attempt when the agent refused the attempt before starting it, when its worker was lost and did not come back within
 * the grace period, or when a non-zero exit has retries left. Final states have no way out: a late report from a
 * worker that was already given up on must not resurrect a task.
 */
public final class TaskTransitions {

    private static final Map<TaskState, Set<TaskState>> TABLE = new EnumMap<>(TaskState.class);

    static {
        TABLE.put(QUEUED, EnumSet.of(ASSIGNED, CANCELLED, FAILED));
        TABLE.put(ASSIGNED, EnumSet.of(QUEUED, RUNNING, SUCCEEDED, FAILED, TIMED_OUT, CANCELLED, LOST));
        TABLE.put(RUNNING, EnumSet.of(QUEUED, SUCCEEDED, FAILED, TIMED_OUT, CANCELLED, LOST));
        TABLE.put(SUCCEEDED, EnumSet.noneOf(TaskState.class));
        TABLE.put(FAILED, EnumSet.noneOf(TaskState.class));
        TABLE.put(TIMED_OUT, EnumSet.noneOf(TaskState.class));
        TABLE.put(CANCELLED, EnumSet.noneOf(TaskState.class));
        TABLE.put(LOST, EnumSet.noneOf(TaskState.class));
    }

    private TaskTransitions() {
    }

    public static boolean isAllowed(TaskState from, TaskState to) {
        return TABLE.get(from).contains(to);
    }

    public static Set<TaskState> allowedFrom(TaskState from) {
        return Collections.unmodifiableSet(TABLE.get(from));
    }

    /** The states a task is in while some worker holds it. */
    public static Set<TaskState> inFlight() {
        return EnumSet.of(ASSIGNED, RUNNING);
    }
}
