package io.taskgrid.master.task;

import jakarta.persistence.Column;
import jakarta.persistence.Convert;
import jakarta.persistence.Entity;
import jakarta.persistence.EnumType;
import jakarta.persistence.Enumerated;
import jakarta.persistence.Id;
import jakarta.persistence.Index;
import jakarta.persistence.Lob;
import jakarta.persistence.Table;

import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.Map;

/**
 * One submitted command and, once it ran, its result. Times are stored as UTC {@link LocalDateTime} because JPA 3.1
 * maps {@code Instant} to a BLOB. Fields are private with setters: EclipseLink weaves change tracking into them.
 */
@Entity
@Table(name = "TG_TASK", indexes = @Index(name = "TG_TASK_STATE_ID", columnList = "STATE, ID"))
public class Task {

    /** For tasks stored before attempts were counted. */
    static final int DEFAULT_MAX_ATTEMPTS = 3;

    @Id
    @Column(name = "ID", length = 36)
    private String id;

    @Lob
    @Column(name = "CMD", nullable = false)
    private String cmd;

    @Enumerated(EnumType.STRING)
    @Column(name = "STATE", length = 16, nullable = false)
    private TaskState state;

    @Lob
    @Convert(converter = EnvConverter.class)
    @Column(name = "ENV_JSON")
    private Map<String, String> env;

    @Column(name = "CWD", length = 4096)
    private String cwd;

    @Column(name = "TIMEOUT_SECONDS")
    private Long timeoutSeconds;

    @Column(name = "WORKER_ID", length = 64)
    private String workerId;

    @Column(name = "ATTEMPT_ID", length = 36)
    private String attemptId;

    @Column(name = "EXIT_CODE")
    private Integer exitCode;

    @Lob
    @Column(name = "STDOUT_TEXT")
    private String stdout;

    @Lob
    @Column(name = "STDERR_TEXT")
    private String stderr;

    @Column(name = "STDOUT_TRUNCATED")
    private boolean stdoutTruncated;

    @Column(name = "STDERR_TRUNCATED")
    private boolean stderrTruncated;

    @Column(name = "REASON", length = 2000)
    private String reason;

    @Column(name = "SUBMITTED_AT", nullable = false)
    private LocalDateTime submittedAt;

    @Column(name = "ASSIGNED_AT")
    private LocalDateTime assignedAt;

    @Column(name = "STARTED_AT")
    private LocalDateTime startedAt;

    @Column(name = "FINISHED_AT")
    private LocalDateTime finishedAt;

    // The columns below came after the first release: nullable, so that an existing database gains them on start.

    /** How many times the task may be handed out when workers are lost under it. */
    @Column(name = "MAX_ATTEMPTS")
    private Integer maxAttempts;

    /** How many times a non-zero exit is run again. */
    @Column(name = "RETRIES")
    private Integer retries;

    /** Attempts that counted against maxAttempts (an attempt the agent refused before starting does not). */
    @Column(name = "ATTEMPT_COUNT")
    private Integer attemptCount;

    @Column(name = "RETRIES_USED")
    private Integer retriesUsed;

    @Column(name = "CANCEL_REQUESTED")
    private Boolean cancelRequested;

    /** The API token name that submitted the task. */
    @Column(name = "SUBMITTED_BY", length = 128)
    private String submittedBy;

    /** Attempts agents handed back without starting them; too many and the task fails instead of circling. */
    @Column(name = "REFUSALS")
    private Integer refusals;

    /** The task's secretEnv, sealed by {@link SecretBox}; never in clear, never in the API. */
    @Lob
    @Column(name = "SECRET_ENV_SEALED")
    private String secretEnvSealed;

    protected Task() {
        // for JPA
    }

    public Task(String id, NewTask spec, int maxAttempts, LocalDateTime submittedAt) {
        this.id = id;
        this.cmd = spec.cmd();
        this.env = spec.env();
        this.cwd = spec.cwd();
        this.timeoutSeconds = spec.timeoutSeconds();
        this.maxAttempts = spec.maxAttempts() != null ? spec.maxAttempts() : maxAttempts;
        this.retries = spec.retries() != null ? spec.retries() : 0;
        this.attemptCount = 0;
        this.retriesUsed = 0;
        this.cancelRequested = false;
        this.state = TaskState.QUEUED;
        this.submittedAt = submittedAt;
    }

    /** Moves to {@code next}, or throws if the state table forbids it. */
    public void moveTo(TaskState next) {
        if (!TaskTransitions.isAllowed(state, next)) {
            throw new IllegalTransitionException(id, state, next);
        }
        state = next;
    }

    public static LocalDateTime nowUtc() {
        return LocalDateTime.now(ZoneOffset.UTC).truncatedTo(ChronoUnit.MILLIS);
    }

    public String getId() {
        return id;
    }

    public String getCmd() {
        return cmd;
    }

    public TaskState getState() {
        return state;
    }

    public Map<String, String> getEnv() {
        return env == null ? Map.of() : env;
    }

    public String getCwd() {
        return cwd;
    }

    public Long getTimeoutSeconds() {
        return timeoutSeconds;
    }

    public String getWorkerId() {
        return workerId;
    }

    public void setWorkerId(String workerId) {
        this.workerId = workerId;
    }

    public String getAttemptId() {
        return attemptId;
    }

    public void setAttemptId(String attemptId) {
        this.attemptId = attemptId;
    }

    public Integer getExitCode() {
        return exitCode;
    }

    public void setExitCode(Integer exitCode) {
        this.exitCode = exitCode;
    }

    public String getStdout() {
        return stdout;
    }

    public void setStdout(String stdout) {
        this.stdout = stdout;
    }

    public String getStderr() {
        return stderr;
    }

    public void setStderr(String stderr) {
        this.stderr = stderr;
    }

    public boolean isStdoutTruncated() {
        return stdoutTruncated;
    }

    public void setStdoutTruncated(boolean stdoutTruncated) {
        this.stdoutTruncated = stdoutTruncated;
    }

    public boolean isStderrTruncated() {
        return stderrTruncated;
    }

    public void setStderrTruncated(boolean stderrTruncated) {
        this.stderrTruncated = stderrTruncated;
    }

    public String getReason() {
        return reason;
    }

    public void setReason(String reason) {
        this.reason = clipReason(reason);
    }

    /** Reasons are free text from agents and the master; their column holds 2000 characters. */
    static String clipReason(String reason) {
        return reason == null || reason.length() <= 2000 ? reason : reason.substring(0, 1997) + "...";
    }

    public LocalDateTime getSubmittedAt() {
        return submittedAt;
    }

    public LocalDateTime getAssignedAt() {
        return assignedAt;
    }

    public void setAssignedAt(LocalDateTime assignedAt) {
        this.assignedAt = assignedAt;
    }

    public LocalDateTime getStartedAt() {
        return startedAt;
    }

    public void setStartedAt(LocalDateTime startedAt) {
        this.startedAt = startedAt;
    }

    public String getSubmittedBy() {
        return submittedBy;
    }

    public void setSubmittedBy(String submittedBy) {
        this.submittedBy = submittedBy;
    }

    public String getSecretEnvSealed() {
        return secretEnvSealed;
    }

    public void setSecretEnvSealed(String sealed) {
        this.secretEnvSealed = sealed;
    }

    public int getMaxAttempts() {
        return maxAttempts == null ? DEFAULT_MAX_ATTEMPTS : maxAttempts;
    }

    public int getRetries() {
        return retries == null ? 0 : retries;
    }

    public int getAttemptCount() {
        return attemptCount == null ? 0 : attemptCount;
    }

    public void setAttemptCount(int attemptCount) {
        this.attemptCount = attemptCount;
    }

    public int getRetriesUsed() {
        return retriesUsed == null ? 0 : retriesUsed;
    }

    public void setRetriesUsed(int retriesUsed) {
        this.retriesUsed = retriesUsed;
    }

    public int getRefusals() {
        return refusals == null ? 0 : refusals;
    }

    public void setRefusals(int refusals) {
        this.refusals = refusals;
    }

    public boolean isCancelRequested() {
        return Boolean.TRUE.equals(cancelRequested);
    }

    public void setCancelRequested(boolean cancelRequested) {
        this.cancelRequested = cancelRequested;
    }

    public LocalDateTime getFinishedAt() {
        return finishedAt;
    }

    public void setFinishedAt(LocalDateTime finishedAt) {
        this.finishedAt = finishedAt;
    }
}
