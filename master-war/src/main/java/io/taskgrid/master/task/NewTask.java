package io.taskgrid.master.task;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;

/**
 * A validated request to run a command; the API builds it, the store turns it into a {@link Task}.
 *
 * @param timeoutSeconds null for no timeout
 * @param cwd            null for the agent's own working directory
 * @param maxAttempts    null for the master's default
 * @param retries        null for none
 * @param priority       null for {@link Task#DEFAULT_PRIORITY}
 * @param requires       labels a worker must carry to run it; null for none
 */
public record NewTask(String cmd, Map<String, String> env, String cwd, Long timeoutSeconds, Integer maxAttempts,
                      Integer retries, Map<String, String> secretEnv, Integer priority, Labels requires) {
    public NewTask {
        env = env == null ? Map.of() : Map.copyOf(env);
        secretEnv = secretEnv == null ? Map.of() : Map.copyOf(secretEnv);
        requires = requires == null ? Labels.NONE : requires;
    }

    /** Never prints the secrets: this record may end up in a log line or an exception message. */
    @Override
    public String toString() {
        return "NewTask[cmd=" + cmd + ", env=" + env + ", cwd=" + cwd + ", timeoutSeconds=" + timeoutSeconds
                + ", maxAttempts=" + maxAttempts + ", retries=" + retries + ", secretEnv=" + secretEnv.keySet()
                + ", priority=" + priority + ", requires=" + requires + "]";
    }

    /** The secrets as one canonical string, for sealing and keyed hashing only. */
    public String secretEnvJson() {
        return new EnvConverter().convertToDatabaseColumn(secretEnv);
    }

    /**
     * SHA-256 over every field, in a fixed order with lengths, so that two requests hash alike exactly when they ask
     * for the same thing (key order and whitespace in the JSON do not matter). The secrets enter only through
     * {@code secretDigest}, a keyed hash, so the fingerprint stored beside an Idempotency-Key reveals nothing.
     */
    public String fingerprint(java.util.function.Function<String, String> secretDigest) {
        // One SHA-256 either way: the stored fingerprint has a column of 64 characters.
        return secretEnv.isEmpty() ? fingerprint() : sha256(fingerprint() + ":" + secretDigest.apply(secretEnvJson()));
    }

    /** The fingerprint of a request without secrets. */
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
        // Only when given, so that a request stored before these fields existed keeps its fingerprint.
        if (priority != null) {
            append(canonical, "priority=" + priority);
        }
        if (!requires.isEmpty()) {
            append(canonical, "requires=" + requires.canonical());
        }
        return sha256(canonical.toString());
    }

    static String sha256(String text) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every JVM", e);
        }
    }

    private static void append(StringBuilder canonical, String field) {
        canonical.append(field.length()).append(':').append(field).append(';');
    }
}
