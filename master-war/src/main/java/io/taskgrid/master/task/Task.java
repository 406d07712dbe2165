package io.taskgrid.master.task;

import jakarta.persistence.Column;
import jakarta.persistence.Convert;
import jakarta.persistence.Entity;
import jakarta.persistence.EnumType;
import jakarta.persistence.Enumerated;
import jakarta.persistence.Id;
import jakarta.persistence.Lob;
import jakarta.persistence.Table;
import jakarta.persistence.Transient;

import java.time.Duration;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One submitted command, its lifecycle and, once it ran, its result. Every change of state is a method here, checked
 * against the one transition table ({@link TaskTransitions}) and, for what a worker reports, against the attempt
 * fence: only the task's current attempt may change it, so a worker that was cut off and reports late cannot overwrite
 * what a later attempt did. The methods are pure (the caller passes the time) and are tested without a container;
 * the store only loads and persists what they decided.
 *
 * <p>The table is mapped with JPA for reading. Times are UTC {@link LocalDateTime} because JPA 3.1 maps
 * {@code Instant} to a BLOB. Fields are private and only the lifecycle methods change them: EclipseLink weaves
 * change tracking into the class, and a field written from outside it would lose its updates silently.
 */
@Entity
@Table(name = "TG_TASK")
public class Task {

    /** For tasks stored before attempts were counted. */
    static final int DEFAULT_MAX_ATTEMPTS = 3;
    /** Priorities run from 0 (last) to 9 (first); a task that names none sits in the middle. */
    public static final int MIN_PRIORITY = 0;
    public static final int MAX_PRIORITY = 9;
    public static final int DEFAULT_PRIORITY = 5;

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

    /** How many times the task may be handed out when workers are lost under it. */
    @Column(name = "MAX_ATTEMPTS")
    private int maxAttempts;

    /** How many times a non-zero exit is run again. */
    @Column(name = "RETRIES")
    private int retries;

    /** Attempts that counted against maxAttempts (an attempt the agent refused before starting does not). */
    @Column(name = "ATTEMPT_COUNT")
    private int attemptCount;

    @Column(name = "RETRIES_USED")
    private int retriesUsed;

    @Column(name = "CANCEL_REQUESTED")
    private boolean cancelRequested;

    /** Who asked for the cancel (the caller's name, as submittedBy); null while nobody has. */
    @Column(name = "CANCELLED_BY", length = 128)
    private String cancelledBy;

    /** The API token name that submitted the task. */
    @Column(name = "SUBMITTED_BY", length = 128)
    private String submittedBy;

    /** The task's secretEnv, sealed by {@link SecretBox}; never in clear, never in the API. */
    @Lob
    @Column(name = "SECRET_ENV_SEALED")
    private String secretEnvSealed;

    /** Attempts agents handed back without starting them; too many and the task fails instead of circling. */
    @Column(name = "REFUSALS")
    private int refusals;

    /** Higher goes first; FIFO within one priority. */
    @Column(name = "PRIORITY")
    private int priority;

    /** Labels the worker must carry, in their canonical form; empty for any worker. */
    @Column(name = "REQUIRES", length = Labels.MAX_CANONICAL_LENGTH)
    private String requiresCanonical;

    /** {@link #requiresCanonical} parsed once: the dispatcher compares it for every worker it considers. */
    @Transient
    private Labels requires;

    /** The attempt in flight, while there is one; kept by the master that runs the task, not read by JPA. */
    @Transient
    private Attempt current;

    /** Attempts made or changed since the store last took them, in order. */
    @Transient
    private List<Attempt> changedAttempts;

    /** True until the store has written the task once: it is inserted, after that updated. */
    @Transient
    private boolean unsaved;

    /** True while the task has changes the store has not taken yet. */
    @Transient
    private boolean dirty;

    protected Task() {
        // for JPA
    }

    /** A new task, QUEUED. */
    public static Task submitted(String id, NewTask spec, int defaultMaxAttempts, String submittedBy,
                                 String secretEnvSealed, LocalDateTime now) {
        Task task = new Task();
        task.id = id;
        task.cmd = spec.cmd();
        task.env = spec.env();
        task.cwd = spec.cwd();
        task.timeoutSeconds = spec.timeoutSeconds();
        task.maxAttempts = spec.maxAttempts() != null ? spec.maxAttempts() : defaultMaxAttempts;
        task.retries = spec.retries() != null ? spec.retries() : 0;
        task.priority = spec.priority() != null ? spec.priority() : DEFAULT_PRIORITY;
        task.requires = spec.requires();
        task.requiresCanonical = task.requires.isEmpty() ? null : task.requires.canonical();
        task.submittedBy = submittedBy;
        task.secretEnvSealed = secretEnvSealed;
        task.state = TaskState.QUEUED;
        task.submittedAt = now;
        task.unsaved = true;
        return task;
    }

    /** A task in the state the store found it in, with its attempt in flight if it has one. */
    static Task restored(Task row, Attempt inFlight) {
        row.current = inFlight;
        return row;
    }

    public static LocalDateTime nowUtc() {
        return LocalDateTime.now(ZoneOffset.UTC).truncatedTo(ChronoUnit.MILLIS);
    }

    // ---- the lifecycle ----

    /** QUEUED to ASSIGNED, as a new attempt on {@code worker}. */
    public Attempt assign(String worker, String newAttemptId, LocalDateTime now) {
        moveTo(TaskState.ASSIGNED);
        workerId = worker;
        attemptId = newAttemptId;
        assignedAt = now;
        attemptCount++;
        current = Attempt.begun(newAttemptId, id, worker, now);
        changed(current);
        return current;
    }

    /** ASSIGNED to RUNNING when the current attempt's process started; false (nothing changes) otherwise. */
    public boolean started(String reportedAttemptId, LocalDateTime now) {
        if (!isCurrent(reportedAttemptId) || state != TaskState.ASSIGNED) {
            return false;
        }
        moveTo(TaskState.RUNNING);
        startedAt = now;
        current.started(now);
        changed(current);
        return true;
    }

    /**
     * When a process that ran for {@code ranFor} and ended {@code now} started, on this master's clock: never before
     * the attempt was assigned (an agent's figure is not trusted to move the task's history back).
     */
    public LocalDateTime startFrom(LocalDateTime now, Duration ranFor) {
        LocalDateTime start = now.minus(ranFor.compareTo(MAX_RUN) > 0 ? MAX_RUN : ranFor).truncatedTo(ChronoUnit.MILLIS);
        return assignedAt != null && start.isBefore(assignedAt) ? assignedAt : start;
    }

    /** Far longer than any attempt runs; bounds what an agent's figure can do to a date. */
    private static final Duration MAX_RUN = Duration.ofDays(3650);

    /**
     * The current attempt ended with {@code result}. A non-zero exit with retries left (and no cancel asked for)
     * sends the task back to the queue as a fresh run, which does not count against maxAttempts; otherwise the
     * result is final.
     */
    public Settled finished(String reportedAttemptId, TaskResult result, LocalDateTime now) {
        if (!isCurrent(reportedAttemptId) || !TaskTransitions.isAllowed(state, result.state())) {
            return Settled.IGNORED;
        }
        if (result.isNonZeroExit() && !cancelRequested && retriesUsed < retries) {
            retriesUsed++;
            attemptCount--;
            backToQueue("FAILED", "exit code " + result.exitCode() + "; retry " + retriesUsed + " of " + retries, now);
            return Settled.REQUEUED;
        }
        moveTo(result.state());
        exitCode = result.exitCode();
        stdout = result.stdout();
        stdoutTruncated = result.stdoutTruncated();
        stderr = result.stderr();
        stderrTruncated = result.stderrTruncated();
        reason = clipReason(result.reason());
        if (startedAt == null && exitCode != null) {
            // A process ran and exited although its STARTED report did not arrive first.
            startedAt = now;
        }
        end(result.state().name(), reason, now);
        return Settled.FINAL;
    }

    /**
     * The agent handed the current attempt back before starting anything: it does not count against maxAttempts, but
     * against {@code refusalLimit}, beyond which the task fails rather than circle forever.
     */
    public Settled refused(String reportedAttemptId, String why, int refusalLimit, LocalDateTime now) {
        if (!isCurrent(reportedAttemptId) || state != TaskState.ASSIGNED) {
            return Settled.IGNORED;
        }
        attemptCount--;
        refusals++;
        if (cancelRequested) {
            cancelNow(now);
            return Settled.FINAL;
        }
        if (refusals >= refusalLimit) {
            moveTo(TaskState.FAILED);
            reason = clipReason("agents handed the task back unstarted " + refusals + " times (the limit, "
                    + "taskgrid.task.refusal.limit); the last said: " + why);
            end("REFUSED", why, now);
            return Settled.FINAL;
        }
        backToQueue("REFUSED", why, now);
        return Settled.REQUEUED;
    }

    /**
     * The agent gave the current attempt back unstarted (it held it prefetched and now drains): back to the queue as
     * if it had never been assigned, counting neither as an attempt nor as a refusal.
     */
    public Settled returned(String reportedAttemptId, String why, LocalDateTime now) {
        if (!isCurrent(reportedAttemptId) || state != TaskState.ASSIGNED) {
            return Settled.IGNORED;
        }
        attemptCount--;
        if (cancelRequested) {
            cancelNow(now);
            return Settled.FINAL;
        }
        backToQueue("RETURNED", why, now);
        return Settled.REQUEUED;
    }

    /**
     * The current attempt's worker was lost and did not come back within the grace period. Back to the queue while
     * attempts are left, LOST after that; CANCELLED if its cancel was asked for.
     *
     * @return the state now, or empty if the attempt was no longer current and in flight
     */
    public Optional<TaskState> lost(String lostAttemptId, String why, LocalDateTime now) {
        if (!isCurrent(lostAttemptId) || !TaskTransitions.inFlight().contains(state)) {
            return Optional.empty();
        }
        if (cancelRequested) {
            cancelNow(now);
        } else if (attemptCount < maxAttempts) {
            backToQueue("LOST", why, now);
        } else {
            moveTo(TaskState.LOST);
            reason = clipReason(why + "; no attempts left (" + attemptCount + " of " + maxAttempts + ")");
            end("LOST", reason, now);
        }
        return Optional.of(state);
    }

    /** The reason of a task cancelled before any worker held it. */
    public static final String CANCELLED_WHILE_QUEUED = "cancelled while queued";

    /**
     * A queued task is CANCELLED at once; one in flight is marked, and its worker must stop it. The first caller to
     * ask is the one recorded.
     */
    public CancelOutcome cancel(String by, LocalDateTime now) {
        if (state.isFinal()) {
            return CancelOutcome.ALREADY_FINAL;
        }
        if (!cancelRequested) {
            cancelledBy = by;
        }
        cancelRequested = true;
        dirty = true;
        if (state == TaskState.QUEUED) {
            moveTo(TaskState.CANCELLED);
            reason = CANCELLED_WHILE_QUEUED;
            finishedAt = now;
            return CancelOutcome.CANCELLED;
        }
        return CancelOutcome.IN_FLIGHT;
    }

    /**
     * A queued task that can never be handed out (its secretEnv does not open any more) ends FAILED with {@code why},
     * rather than hold a worker's slot or the head of the queue for ever.
     *
     * @return false when the task is not queued (nothing changed)
     */
    public boolean failUndispatchable(String why, LocalDateTime now) {
        if (state != TaskState.QUEUED) {
            return false;
        }
        moveTo(TaskState.FAILED);
        reason = clipReason(why);
        finishedAt = now;
        return true;
    }

    /**
     * The current attempt's result could not be stored: the task ends FAILED with {@code why} and without output, so
     * that neither it nor the agent waits for a result that may never fit.
     */
    public boolean failUnstorable(String reportedAttemptId, String why, LocalDateTime now) {
        if (!isCurrent(reportedAttemptId) || !TaskTransitions.inFlight().contains(state)) {
            return false;
        }
        moveTo(TaskState.FAILED);
        reason = clipReason(why);
        stdout = null;
        stderr = null;
        end("FAILED", reason, now);
        return true;
    }

    /** Whether {@code reportedAttemptId} is the attempt the task is in flight on. */
    public boolean isCurrent(String reportedAttemptId) {
        return reportedAttemptId != null && reportedAttemptId.equals(attemptId)
                && TaskTransitions.inFlight().contains(state);
    }

    private void moveTo(TaskState next) {
        if (!TaskTransitions.isAllowed(state, next)) {
            throw new IllegalTransitionException(id, state, next);
        }
        state = next;
        dirty = true;
    }

    private void cancelNow(LocalDateTime now) {
        moveTo(TaskState.CANCELLED);
        reason = "cancelled";
        end("CANCELLED", "cancelled", now);
    }

    private void backToQueue(String outcome, String why, LocalDateTime now) {
        if (current != null) {
            current.end(outcome, why, now);
            changed(current);
        }
        moveTo(TaskState.QUEUED);
        workerId = null;
        attemptId = null;
        assignedAt = null;
        startedAt = null;
        current = null;
    }

    /** The current attempt ends with the task. */
    private void end(String outcome, String why, LocalDateTime now) {
        finishedAt = now;
        if (current != null) {
            current.end(outcome, why, now);
            changed(current);
            current = null;
        }
    }

    private void changed(Attempt attempt) {
        if (changedAttempts == null) {
            changedAttempts = new ArrayList<>(2);
        }
        if (!changedAttempts.contains(attempt)) {
            changedAttempts.add(attempt);
        }
    }

    /** The attempts made or changed since the last call, for the store to write; the list starts again empty. */
    public List<Attempt> takeChangedAttempts() {
        if (changedAttempts == null || changedAttempts.isEmpty()) {
            return List.of();
        }
        List<Attempt> taken = changedAttempts;
        changedAttempts = null;
        return taken;
    }

    /** Whether the store has yet to insert it; the store calls {@link #saved()} once it has taken its row. */
    public boolean isUnsaved() {
        return unsaved;
    }

    void saved() {
        unsaved = false;
        dirty = false;
    }

    /** Whether the task changed since the store last took its row. */
    public boolean isDirty() {
        return dirty || unsaved;
    }

    /** Reasons are free text from agents and the master; their column holds 2000 characters. */
    static String clipReason(String reason) {
        return reason == null || reason.length() <= 2000 ? reason : reason.substring(0, 1997) + "...";
    }

    // ---- reading ----

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

    public String getAttemptId() {
        return attemptId;
    }

    /** The attempt in flight, on the master that holds the task; null otherwise. */
    public Attempt currentAttempt() {
        return current;
    }

    public Integer getExitCode() {
        return exitCode;
    }

    public String getStdout() {
        return stdout;
    }

    public String getStderr() {
        return stderr;
    }

    public boolean isStdoutTruncated() {
        return stdoutTruncated;
    }

    public boolean isStderrTruncated() {
        return stderrTruncated;
    }

    public String getReason() {
        return reason;
    }

    public LocalDateTime getSubmittedAt() {
        return submittedAt;
    }

    public LocalDateTime getAssignedAt() {
        return assignedAt;
    }

    public LocalDateTime getStartedAt() {
        return startedAt;
    }

    public LocalDateTime getFinishedAt() {
        return finishedAt;
    }

    public String getSubmittedBy() {
        return submittedBy;
    }

    public String getSecretEnvSealed() {
        return secretEnvSealed;
    }

    public int getMaxAttempts() {
        return maxAttempts == 0 ? DEFAULT_MAX_ATTEMPTS : maxAttempts;
    }

    public int getRetries() {
        return retries;
    }

    public int getAttemptCount() {
        return attemptCount;
    }

    public int getRetriesUsed() {
        return retriesUsed;
    }

    public int getRefusals() {
        return refusals;
    }

    public String getCancelledBy() {
        return cancelledBy;
    }

    /** For the store, when it loads a task in flight whose cancel was asked for before a restart. */
    void restoreCancelledBy(String by) {
        this.cancelledBy = by;
    }

    /**
     * The store sealed this task's secret again, under the current key ({@link TaskStore#resealStoredSecrets}): the
     * task uses that from now on, unless its value changed meanwhile.
     */
    public void secretResealed(String before, String after) {
        if (before.equals(secretEnvSealed)) {
            secretEnvSealed = after;
        }
    }

    public boolean isCancelRequested() {
        return cancelRequested;
    }

    public int getPriority() {
        return priority;
    }

    public Labels getRequires() {
        if (requires == null) {
            requires = Labels.parse(requiresCanonical);
        }
        return requires;
    }

    /**
     * A copy of the task's fields as they are now, for a thread other than the one that runs the lifecycle (an
     * answer to a client) to read while the task itself goes on changing.
     */
    public Task snapshot() {
        Task copy = fromRow(id, cmd, state, env, cwd, timeoutSeconds, workerId, attemptId, submittedAt, assignedAt,
                startedAt, maxAttempts, retries, attemptCount, retriesUsed, cancelRequested, submittedBy,
                secretEnvSealed, refusals, priority, requiresCanonical);
        copy.exitCode = exitCode;
        copy.stdout = stdout;
        copy.stderr = stderr;
        copy.stdoutTruncated = stdoutTruncated;
        copy.stderrTruncated = stderrTruncated;
        copy.reason = reason;
        copy.finishedAt = finishedAt;
        copy.cancelledBy = cancelledBy;
        return copy;
    }

    /** Whether the command and environment are in memory; the store leaves out large ones until dispatch. */
    public boolean hasSpec() {
        return cmd != null;
    }

    /** Drops a large command and environment from memory once they are stored; they are read again at dispatch. */
    public void forgetSpecIfLarge(int maxChars) {
        int size = (cmd == null ? 0 : cmd.length()) + getEnv().entrySet().stream()
                .mapToInt(e -> e.getKey().length() + e.getValue().length() + 6).sum();
        if (size > maxChars) {
            cmd = null;
            env = null;
        }
    }

    /** For the store, when it loads a task's command or environment that it left out of memory. */
    public void fillSpec(String fullCmd, Map<String, String> fullEnv) {
        this.cmd = fullCmd;
        this.env = fullEnv;
    }

    /** For the store: a row read with plain JDBC. */
    static Task fromRow(String id, String cmd, TaskState state, Map<String, String> env, String cwd, Long timeoutSeconds,
                        String workerId, String attemptId, LocalDateTime submittedAt, LocalDateTime assignedAt,
                        LocalDateTime startedAt, int maxAttempts, int retries, int attemptCount, int retriesUsed,
                        boolean cancelRequested, String submittedBy, String secretEnvSealed, int refusals,
                        int priority, String requiresCanonical) {
        Task task = new Task();
        task.id = id;
        task.cmd = cmd;
        task.state = state;
        task.env = env;
        task.cwd = cwd;
        task.timeoutSeconds = timeoutSeconds;
        task.workerId = workerId;
        task.attemptId = attemptId;
        task.submittedAt = submittedAt;
        task.assignedAt = assignedAt;
        task.startedAt = startedAt;
        task.maxAttempts = maxAttempts;
        task.retries = retries;
        task.attemptCount = attemptCount;
        task.retriesUsed = retriesUsed;
        task.cancelRequested = cancelRequested;
        task.submittedBy = submittedBy;
        task.secretEnvSealed = secretEnvSealed;
        task.refusals = refusals;
        task.priority = priority;
        task.requiresCanonical = requiresCanonical == null || requiresCanonical.isEmpty() ? null : requiresCanonical;
        return task;
    }
}
