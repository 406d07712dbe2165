package io.taskgrid.master.dispatch;

import io.taskgrid.master.task.Task;

import java.util.Map;

/**
 * What goes down a worker's stream for one attempt, taken from the task when it was assigned: by the time the
 * assignment is durable and sent, the live task may already have moved on. The secretEnv is here in clear, opened
 * before the task was assigned (a secret that does not open fails the task instead of its worker's slot), and goes
 * nowhere but into the assignment.
 */
public record Dispatched(String taskId, String attemptId, String cmd, Map<String, String> env, String cwd,
                         Long timeoutSeconds, Map<String, String> secretEnv) {

    /** Never shows the secrets. */
    @Override
    public String toString() {
        return "Dispatched[" + taskId + ", attempt " + attemptId + ", secretEnv " + secretEnv.keySet() + "]";
    }

    static Dispatched of(Task task, Map<String, String> secretEnv) {
        return new Dispatched(task.getId(), task.getAttemptId(), task.getCmd(), task.getEnv(), task.getCwd(),
                task.getTimeoutSeconds(), Map.copyOf(secretEnv));
    }
}
