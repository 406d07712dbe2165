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
    /**
     * Streamed live: its output outgrew what a report carries, or it kept running. Until then the output stays here
     * and travels in the FINISHED report only, which costs a short task no output call at all. Guarded by this.
     */
    private boolean live;
    /** The process has ended and its report is being made: too late to go live. Guarded by this. */
    private boolean over;

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

    /** @return whether it went live now (false: it was already, or its process has ended) */
    synchronized boolean goLive() {
        if (live || over) {
            return false;
        }
        live = true;
        return true;
    }

    synchronized boolean isLive() {
        return live;
    }

    /**
     * The process has ended: from now on it never goes live.
     *
     * @return whether it was streamed live, and so has to be finished on the stream too
     */
    synchronized boolean over() {
        over = true;
        return live;
    }

    /** Bytes printed on its larger stream so far. */
    long largestTotal() {
        return Math.max(stdout.total(), stderr.total());
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
