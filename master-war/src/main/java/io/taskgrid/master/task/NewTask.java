package io.taskgrid.master.task;

import java.util.Map;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.TreeMap;

/**
 * A validated request to run a command; the API builds it, the store turns it into a {@link Task}.
 *
 * @param timeoutSeconds null for no timeout
 * @param cwd            null for the agent's own working directory
 * @param maxAttempts    null for the master's default
 * @param retries        null for none
 */
public record NewTask(String cmd, Map<String, String> env, String cwd, Long timeoutSeconds, Integer maxAttempts,
                      Integer retries) {
    public NewTask {
        env = env == null ? Map.of() : Map.copyOf(env);
    }

    public NewTask(String cmd, Map<String, String> env, String cwd, Long timeoutSeconds) {
        this(cmd, env, cwd, timeoutSeconds, null, null);
    }

    /**
     * SHA-256 over every field, in a fixed order with lengths, so that two requests hash alike exactly when they ask
     * for the same thing (key order and whitespace in the JSON do not matter).
     */
    public String fingerprint() {
        StringBuilder canonical = new StringBuilder();
        append(canonical, cmd);
        new TreeMap<>(env).forEach((name, value) -> {
            append(canonical, name);
            append(canonical, value);
        });
        append(canonical, String.valueOf(cwd));
        append(canonical, String.valueOf(timeoutSeconds));
        append(canonical, String.valueOf(maxAttempts));
        append(canonical, String.valueOf(retries));
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(canonical.toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every JVM", e);
        }
    }

    private static void append(StringBuilder canonical, String field) {
        canonical.append(field.length()).append(':').append(field).append(';');
    }
}
