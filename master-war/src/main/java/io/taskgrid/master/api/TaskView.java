package io.taskgrid.master.api;

import io.taskgrid.master.task.Attempt;
import io.taskgrid.master.task.Task;
import jakarta.json.bind.annotation.JsonbNillable;
import jakarta.json.bind.annotation.JsonbPropertyOrder;

import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;

/**
 * A task as the API shows it. Every field is present, null when it does not apply yet. {@code cancelledBy} names the
 * caller who asked for the cancel, as {@code submittedBy} names the submitter.
 */
@JsonbNillable
@JsonbPropertyOrder({"id", "cmd", "state", "workerId", "exitCode", "stdout", "stderr", "stdoutTruncated",
        "stderrTruncated", "submittedBy", "submittedAt", "startedAt", "finishedAt", "timeoutSeconds", "env", "cwd", "reason",
        "retries", "maxAttempts", "priority", "requires", "waiting", "cancelRequested", "cancelledBy", "attempts"})
public record TaskView(String id, String cmd, String state, String workerId, Integer exitCode, String stdout,
                       String stderr, boolean stdoutTruncated, boolean stderrTruncated, String submittedBy,
                       Instant submittedAt,
                       Instant startedAt, Instant finishedAt, Long timeoutSeconds, Map<String, String> env,
                       String cwd, String reason, int retries, int maxAttempts, int priority,
                       Map<String, String> requires, String waiting, boolean cancelRequested,
                       String cancelledBy, List<AttemptView> attempts) {

    /** A task that is not waiting in the queue (or whose wait needs no explaining). */
    public static TaskView of(Task task, List<Attempt> attempts) {
        return of(task, attempts, null);
    }

    /**
     * A task, with why it waits if it is queued.
     *
     * @param waiting why a queued task is not running yet; null for any other
     */
    public static TaskView of(Task task, List<Attempt> attempts, String waiting) {
        return new TaskView(task.getId(), task.getCmd(), task.getState().name(), task.getWorkerId(),
                task.getExitCode(), task.getStdout(), task.getStderr(), task.isStdoutTruncated(),
                task.isStderrTruncated(), task.getSubmittedBy(), utc(task.getSubmittedAt()), utc(task.getStartedAt()),
                utc(task.getFinishedAt()), task.getTimeoutSeconds(), task.getEnv(), task.getCwd(), task.getReason(),
                task.getRetries(), task.getMaxAttempts(), task.getPriority(), task.getRequires().asMap(), waiting,
                task.isCancelRequested(), task.getCancelledBy(),
                attempts.stream().map(AttemptView::of).toList());
    }

    static Instant utc(LocalDateTime time) {
        return time == null ? null : time.toInstant(ZoneOffset.UTC);
    }
}
