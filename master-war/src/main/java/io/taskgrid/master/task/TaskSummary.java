package io.taskgrid.master.task;

import java.time.LocalDateTime;

/**
 * A task as a list shows it: everything but its output, environment and attempts, and at most
 * {@link #CMD_PREVIEW_CHARS} characters of its command. Read by a projection query, so listing a thousand tasks never
 * loads a thousand outputs (up to 2 MiB each) or environments (up to 1 MiB each) into the master's heap.
 */
public record TaskSummary(String id, String cmdPreview, TaskState state, String workerId, Integer exitCode,
                          String submittedBy, LocalDateTime submittedAt, LocalDateTime startedAt,
                          LocalDateTime finishedAt, Long timeoutSeconds, String reason, int attemptCount,
                          boolean cancelRequested) {

    public static final int CMD_PREVIEW_CHARS = 1024;

    /** The command's first {@link #CMD_PREVIEW_CHARS} characters. */
    public String cmd() {
        return cmdTruncated() ? cmdPreview.substring(0, CMD_PREVIEW_CHARS) : cmdPreview;
    }

    public boolean cmdTruncated() {
        return cmdPreview.length() > CMD_PREVIEW_CHARS;
    }
}
