package io.taskgrid.master.task;

import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.LocalDateTime;
import java.util.List;

/**
 * Snapshots of what a lifecycle change wrote, taken on the thread that made the change and written later by the
 * {@link GroupCommit} thread: the live {@link Task} keeps changing meanwhile, the snapshot does not. One row per table;
 * {@code insert} says whether the row is new.
 */
final class Rows {

    private Rows() {
    }

    /** Every column of TG_TASK. Output columns hold something only once the task is final. */
    record TaskRow(boolean insert, String id, String cmd, String state, String envJson, String cwd, Long timeoutSeconds,
                   String workerId, String attemptId, Integer exitCode, String stdout, String stderr,
                   boolean stdoutTruncated, boolean stderrTruncated, String reason, LocalDateTime submittedAt,
                   LocalDateTime assignedAt, LocalDateTime startedAt, LocalDateTime finishedAt, int maxAttempts,
                   int retries, int attemptCount, int retriesUsed, boolean cancelRequested, String submittedBy,
                   String secretEnvSealed, int refusals, int priority, String requires, String cancelledBy) {

        static TaskRow of(Task t, boolean insert) {
            return new TaskRow(insert, t.getId(), insert ? t.getCmd() : null, t.getState().name(),
                    insert ? new EnvConverter().convertToDatabaseColumn(t.getEnv()) : null, t.getCwd(),
                    t.getTimeoutSeconds(), t.getWorkerId(), t.getAttemptId(), t.getExitCode(), t.getStdout(),
                    t.getStderr(), t.isStdoutTruncated(), t.isStderrTruncated(), t.getReason(), t.getSubmittedAt(),
                    t.getAssignedAt(), t.getStartedAt(), t.getFinishedAt(), t.getMaxAttempts(), t.getRetries(),
                    t.getAttemptCount(), t.getRetriesUsed(), t.isCancelRequested(), t.getSubmittedBy(),
                    t.getSecretEnvSealed(), t.getRefusals(), t.getPriority(),
                    t.getRequires().isEmpty() ? null : t.getRequires().canonical(), t.getCancelledBy());
        }

        /** This row, followed by a later snapshot of the same task in the same batch: one write with the later values. */
        TaskRow then(TaskRow later) {
            if (!insert) {
                return later;
            }
            return new TaskRow(true, id, cmd, later.state, envJson, cwd, timeoutSeconds, later.workerId,
                    later.attemptId, later.exitCode, later.stdout, later.stderr, later.stdoutTruncated,
                    later.stderrTruncated, later.reason, submittedAt, later.assignedAt, later.startedAt,
                    later.finishedAt, maxAttempts, retries, later.attemptCount, later.retriesUsed,
                    later.cancelRequested, submittedBy, secretEnvSealed, later.refusals, priority, requires,
                    later.cancelledBy);
        }

        boolean hasOutput() {
            return stdout != null || stderr != null;
        }

        /** A new task and its owner: the master that keeps it in memory, or null for the next claim to take. */
        static final String INSERT = "INSERT INTO TG_TASK (ID, CMD, STATE, ENV_JSON, CWD, TIMEOUT_SECONDS, WORKER_ID, "
                + "ATTEMPT_ID, EXIT_CODE, STDOUT_TEXT, STDERR_TEXT, STDOUT_TRUNCATED, STDERR_TRUNCATED, REASON, "
                + "SUBMITTED_AT, ASSIGNED_AT, STARTED_AT, FINISHED_AT, MAX_ATTEMPTS, RETRIES, ATTEMPT_COUNT, "
                + "RETRIES_USED, CANCEL_REQUESTED, SUBMITTED_BY, SECRET_ENV_SEALED, REFUSALS, PRIORITY, REQUIRES, "
                + "CANCELLED_BY, OWNER, ADOPTED) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                + "?, ?, ?, ?, ?, ?, ?, ?, ?)";

        private void bindColumns(PreparedStatement s) throws SQLException {
            s.setString(1, id);
            s.setString(2, cmd);
            s.setString(3, state);
            s.setString(4, envJson);
            s.setString(5, cwd);
            setLong(s, 6, timeoutSeconds);
            s.setString(7, workerId);
            s.setString(8, attemptId);
            setInt(s, 9, exitCode);
            s.setString(10, stdout);
            s.setString(11, stderr);
            s.setBoolean(12, stdoutTruncated);
            s.setBoolean(13, stderrTruncated);
            s.setString(14, reason);
            setTime(s, 15, submittedAt);
            setTime(s, 16, assignedAt);
            setTime(s, 17, startedAt);
            setTime(s, 18, finishedAt);
            s.setInt(19, maxAttempts);
            s.setInt(20, retries);
            s.setInt(21, attemptCount);
            s.setInt(22, retriesUsed);
            s.setBoolean(23, cancelRequested);
            s.setString(24, submittedBy);
            s.setString(25, ended() ? null : secretEnvSealed);
            s.setInt(26, refusals);
            s.setInt(27, priority);
            s.setString(28, requires);
            s.setString(29, cancelledBy);
        }

        /**
         * Binds {@link #INSERT}: owned by {@code owner}, or by no master yet when it is null: then also not ADOPTED,
         * which is how a master of the version before V9 tells a task it has to take.
         */
        void bindInsert(PreparedStatement s, String owner) throws SQLException {
            bindColumns(s);
            s.setString(30, owner);
            s.setBoolean(31, owner != null);
        }

        /**
         * What changes while a task lives; once it has ended, its secretEnv goes: nothing will run it again, and a
         * copy of the database should hold as few secrets as it can. A row that has ended is not written again.
         */
        static final String UPDATE = "UPDATE TG_TASK SET STATE = ?, WORKER_ID = ?, ATTEMPT_ID = ?, EXIT_CODE = ?, "
                + "REASON = ?, ASSIGNED_AT = ?, STARTED_AT = ?, FINISHED_AT = ?, ATTEMPT_COUNT = ?, RETRIES_USED = ?, "
                + "CANCEL_REQUESTED = ?, REFUSALS = ?, CANCELLED_BY = ?, "
                + "SECRET_ENV_SEALED = CASE WHEN ? THEN NULL ELSE SECRET_ENV_SEALED END WHERE ID = ? AND STATE IN "
                + TaskState.sqlList(TaskState.unfinished());
        /**
         * The same, and the output, which a task has once it is final. Like every update, only of a task that has not
         * ended: once a result is stored, neither a late report nor anything else changes it.
         */
        static final String UPDATE_WITH_OUTPUT = "UPDATE TG_TASK SET STATE = ?, WORKER_ID = ?, ATTEMPT_ID = ?, "
                + "EXIT_CODE = ?, REASON = ?, ASSIGNED_AT = ?, STARTED_AT = ?, FINISHED_AT = ?, ATTEMPT_COUNT = ?, "
                + "RETRIES_USED = ?, CANCEL_REQUESTED = ?, REFUSALS = ?, CANCELLED_BY = ?, "
                + "SECRET_ENV_SEALED = CASE WHEN ? THEN NULL ELSE SECRET_ENV_SEALED END, STDOUT_TEXT = ?, "
                + "STDERR_TEXT = ?, STDOUT_TRUNCATED = ?, STDERR_TRUNCATED = ? WHERE ID = ? AND STATE IN "
                + TaskState.sqlList(TaskState.unfinished());

        /** Whether the task has ended: its row then keeps no secret. */
        boolean ended() {
            return TaskState.valueOf(state).isFinal();
        }

        void bindUpdate(PreparedStatement s) throws SQLException {
            s.setString(1, state);
            s.setString(2, workerId);
            s.setString(3, attemptId);
            setInt(s, 4, exitCode);
            s.setString(5, reason);
            setTime(s, 6, assignedAt);
            setTime(s, 7, startedAt);
            setTime(s, 8, finishedAt);
            s.setInt(9, attemptCount);
            s.setInt(10, retriesUsed);
            s.setBoolean(11, cancelRequested);
            s.setInt(12, refusals);
            s.setString(13, cancelledBy);
            s.setBoolean(14, ended());
            if (hasOutput()) {
                s.setString(15, stdout);
                s.setString(16, stderr);
                s.setBoolean(17, stdoutTruncated);
                s.setBoolean(18, stderrTruncated);
                s.setString(19, id);
            } else {
                s.setString(15, id);
            }
        }
    }

    /** Every column of TG_ATTEMPT. */
    record AttemptRow(boolean insert, String id, String taskId, String workerId, LocalDateTime assignedAt,
                      LocalDateTime startedAt, LocalDateTime endedAt, String outcome, String reason) {

        static AttemptRow of(Attempt a) {
            return new AttemptRow(a.isUnsaved(), a.getId(), a.getTaskId(), a.getWorkerId(), a.getAssignedAt(),
                    a.getStartedAt(), a.getEndedAt(), a.getOutcome(), a.getReason());
        }

        AttemptRow then(AttemptRow later) {
            return new AttemptRow(insert || later.insert, id, taskId, workerId, assignedAt, later.startedAt,
                    later.endedAt, later.outcome, later.reason);
        }

        static final String INSERT = "INSERT INTO TG_ATTEMPT (ID, TASK_ID, WORKER_ID, ASSIGNED_AT, STARTED_AT, "
                + "ENDED_AT, OUTCOME, REASON) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

        void bindInsert(PreparedStatement s) throws SQLException {
            s.setString(1, id);
            s.setString(2, taskId);
            s.setString(3, workerId);
            setTime(s, 4, assignedAt);
            setTime(s, 5, startedAt);
            setTime(s, 6, endedAt);
            s.setString(7, outcome);
            s.setString(8, reason);
        }

        static final String UPDATE = "UPDATE TG_ATTEMPT SET STARTED_AT = ?, ENDED_AT = ?, OUTCOME = ?, REASON = ? "
                + "WHERE ID = ?";

        void bindUpdate(PreparedStatement s) throws SQLException {
            setTime(s, 1, startedAt);
            setTime(s, 2, endedAt);
            s.setString(3, outcome);
            s.setString(4, reason);
            s.setString(5, id);
        }
    }

    /** A client's Idempotency-Key (scoped to the caller), stored with the task it created. */
    record KeyRow(String key, String taskId, String requestHash, LocalDateTime createdAt) {
        static final String INSERT = "INSERT INTO TG_IDEMPOTENCY_KEY (IDEMPOTENCY_KEY, TASK_ID, REQUEST_HASH, CREATED_AT) "
                + "VALUES (?, ?, ?, ?)";

        void bindInsert(PreparedStatement s) throws SQLException {
            s.setString(1, key);
            s.setString(2, taskId);
            s.setString(3, requestHash);
            setTime(s, 4, createdAt);
        }
    }

    /** What one lifecycle change writes: the task's row, the attempts it made or changed, perhaps a key. */
    record Change(TaskRow task, List<AttemptRow> attempts, KeyRow key) {
    }

    private static void setTime(PreparedStatement s, int index, LocalDateTime time) throws SQLException {
        if (time == null) {
            s.setNull(index, Types.TIMESTAMP);
        } else {
            s.setTimestamp(index, Timestamp.valueOf(time));
        }
    }

    private static void setLong(PreparedStatement s, int index, Long value) throws SQLException {
        if (value == null) {
            s.setNull(index, Types.BIGINT);
        } else {
            s.setLong(index, value);
        }
    }

    private static void setInt(PreparedStatement s, int index, Integer value) throws SQLException {
        if (value == null) {
            s.setNull(index, Types.INTEGER);
        } else {
            s.setInt(index, value);
        }
    }
}
