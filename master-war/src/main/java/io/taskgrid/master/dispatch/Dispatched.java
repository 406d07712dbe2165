package io.taskgrid.master.dispatch;

import io.taskgrid.master.task.Task;

import java.util.Map;

/**
 * What goes down a worker's stream for one attempt, taken from the task when it was assigned: by the time the
 * assignment is durable and sent, the live task may already have moved on.
 */
public record Dispatched(String taskId, String attemptId, String cmd, Map<String, String> env, String cwd,
                         Long timeoutSeconds, String secretEnvSealed) {

    static Dispatched of(Task task) {
        return new Dispatched(task.getId(), task.getAttemptId(), task.getCmd(), task.getEnv(), task.getCwd(),
                task.getTimeoutSeconds(), task.getSecretEnvSealed());
    }
}
