package io.taskgrid.agent;

import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.OutputStream;

/**
 * Both output streams of one attempt, as the runner captures them and the streamer sends them. Created before the
 * process starts, so that no byte it prints can miss the live stream.
 */
final class AttemptOutput {

    private final String taskId;
    private final String attemptId;
    private final StreamCapture stdout;
    private final StreamCapture stderr;
    /** The master takes no live output of this attempt from this agent: only the final report carries it. */
    private volatile boolean refused;
    /** The attempt has ended: send what is left at once instead of batching it. */
    private volatile boolean ending;

    AttemptOutput(Assignment assignment) {
        this(assignment.getTaskId(), assignment.getAttemptId(), assignment.getOutputLimitBytes());
    }

    AttemptOutput(String taskId, String attemptId, long limit) {
        this.taskId = taskId;
        this.attemptId = attemptId;
        this.stdout = new StreamCapture(limit);
        this.stderr = new StreamCapture(limit);
    }

    String taskId() {
        return taskId;
    }

    String attemptId() {
        return attemptId;
    }

    StreamCapture stdout() {
        return stdout;
    }

    StreamCapture stderr() {
        return stderr;
    }

    StreamCapture stream(OutputStream stream) {
        return switch (stream) {
            case STDOUT -> stdout;
            case STDERR -> stderr;
            default -> null;
        };
    }

    void refuse() {
        refused = true;
    }

    boolean refused() {
        return refused;
    }

    void ending() {
        ending = true;
    }

    boolean isEnding() {
        return ending;
    }

    /** Whether the master has all of it, or will take none of it. */
    boolean settled() {
        return refused || (stdout.allAcked() && stderr.allAcked());
    }
}
