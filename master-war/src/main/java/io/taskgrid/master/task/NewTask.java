package io.taskgrid.master.task;

import java.util.Map;

/**
 * A validated request to run a command; the API builds it, the store turns it into a {@link Task}.
 *
 * @param timeoutSeconds null for no timeout
 * @param cwd            null for the agent's own working directory
 */
public record NewTask(String cmd, Map<String, String> env, String cwd, Long timeoutSeconds) {
    public NewTask {
        env = env == null ? Map.of() : Map.copyOf(env);
    }
}
