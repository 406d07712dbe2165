package io.taskgrid.master.task;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import jakarta.persistence.EntityManager;
import jakarta.persistence.LockModeType;
import jakarta.persistence.PersistenceContext;
import jakarta.persistence.TypedQuery;
import jakarta.transaction.Transactional;

import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * The durable record of every task and attempt. Every change of state goes through {@link Task#moveTo} inside a
 * transaction that holds the task's row lock, and every change that comes from a worker names the attempt it is
 * about: a report for any other attempt than the current one changes nothing.
 */
@ApplicationScoped
@Transactional
public class TaskStore {

    private static final Logger LOG = Logger.getLogger(TaskStore.class.getName());

    /** What became of a report of a finished attempt. */
    public enum Settled {
        /** The task is now in a final state. */
        FINAL,
        /** A non-zero exit with retries left: the task is queued again. */
        REQUEUED,
        /** The attempt was not the task's current one, or the task was no longer in flight: nothing changed. */
        IGNORED
    }

    @PersistenceContext(unitName = "taskgrid")
    private EntityManager em;

    @Inject
    SecretBox secrets;

    /** Stores a new task; with a key, the caller must have checked that none exists (a race fails on the unique key). */
    public Task create(NewTask spec, int defaultMaxAttempts, String idempotencyKey, String submittedBy) {
        Task task = new Task(TaskIds.next(), spec, defaultMaxAttempts, Task.nowUtc());
        task.setSubmittedBy(submittedBy);
        if (!spec.secretEnv().isEmpty()) {
            task.setSecretEnvSealed(secrets.seal(spec.secretEnvJson()));
        }
        em.persist(task);
        if (idempotencyKey != null) {
            em.persist(new IdempotencyKey(idempotencyKey, task.getId(), fingerprint(spec), task.getSubmittedAt()));
        }
        em.flush();
        return task;
    }

    /** What an Idempotency-Key remembers of a request; secrets enter only as a keyed hash. */
    public String fingerprint(NewTask spec) {
        return spec.fingerprint(secrets::mac);
    }

    /** The task's secretEnv in clear, for its assignment only. */
    public Map<String, String> openSecretEnv(Task task) {
        return task.getSecretEnvSealed() == null ? Map.of()
                : new EnvConverter().convertToEntityAttribute(secrets.open(task.getSecretEnvSealed()));
    }

    @Transactional(Transactional.TxType.SUPPORTS)
    public Optional<Task> find(String id) {
        return Optional.ofNullable(em.find(Task.class, id));
    }

    /** The task an Idempotency-Key created, with the fingerprint of the request that created it. */
    public record KeyedTask(Task task, String requestHash) {
    }

    @Transactional(Transactional.TxType.SUPPORTS)
    public Optional<KeyedTask> findByIdempotencyKey(String key) {
        IdempotencyKey entry = em.find(IdempotencyKey.class, key);
        if (entry == null) {
            return Optional.empty();
        }
        return Optional.ofNullable(em.find(Task.class, entry.getTaskId()))
                .map(task -> new KeyedTask(task, entry.getRequestHash()));
    }

    @Transactional(Transactional.TxType.SUPPORTS)
    public List<Attempt> attempts(String taskId) {
        return em.createQuery("SELECT a FROM Attempt a WHERE a.taskId = :task ORDER BY a.id", Attempt.class)
                .setParameter("task", taskId).getResultList();
    }

    @Transactional(Transactional.TxType.SUPPORTS)
    public long countQueued() {
        return em.createQuery("SELECT COUNT(t) FROM Task t WHERE t.state = :state", Long.class)
                .setParameter("state", TaskState.QUEUED).getSingleResult();
    }

    /**
     * Newest first, strictly older than {@code beforeId} when it is given. A projection: the output, environment and
     * secret columns are never read, and of the command only its first characters.
     */
    @Transactional(Transactional.TxType.SUPPORTS)
    public List<TaskSummary> list(TaskState state, String beforeId, int limit) {
        StringBuilder jpql = new StringBuilder("SELECT NEW io.taskgrid.master.task.TaskSummary(t.id, SUBSTRING(t.cmd, 1, "
                + (TaskSummary.CMD_PREVIEW_CHARS + 1) + "), t.state, t.workerId, t.exitCode, t.submittedBy, "
                + "t.submittedAt, t.startedAt, t.finishedAt, t.timeoutSeconds, t.reason, t.attemptCount, "
                + "t.cancelRequested) FROM Task t WHERE 1 = 1");
        if (state != null) {
            jpql.append(" AND t.state = :state");
        }
        if (beforeId != null) {
            jpql.append(" AND t.id < :before");
        }
        jpql.append(" ORDER BY t.id DESC");
        TypedQuery<TaskSummary> query = em.createQuery(jpql.toString(), TaskSummary.class).setMaxResults(limit);
        if (state != null) {
            query.setParameter("state", state);
        }
        if (beforeId != null) {
            query.setParameter("before", beforeId);
        }
        return query.getResultList();
    }

    /** The ids of the oldest queued tasks, in submission order. */
    @Transactional(Transactional.TxType.SUPPORTS)
    public List<String> oldestQueuedIds(int limit) {
        return em.createQuery("SELECT t.id FROM Task t WHERE t.state = :state ORDER BY t.id", String.class)
                .setParameter("state", TaskState.QUEUED)
                .setMaxResults(limit)
                .getResultList();
    }

    /**
     * QUEUED to ASSIGNED for the given worker, as a new attempt.
     *
     * @return the task as assigned, or empty if it was no longer queued
     */
    public Optional<Task> assign(String taskId, String workerId, String attemptId) {
        Task task = em.find(Task.class, taskId, LockModeType.PESSIMISTIC_WRITE);
        if (task == null || task.getState() != TaskState.QUEUED) {
            return Optional.empty();
        }
        task.moveTo(TaskState.ASSIGNED);
        task.setWorkerId(workerId);
        task.setAttemptId(attemptId);
        task.setAssignedAt(Task.nowUtc());
        task.setAttemptCount(task.getAttemptCount() + 1);
        em.persist(new Attempt(attemptId, taskId, workerId, task.getAssignedAt()));
        return Optional.of(task);
    }

    /** ASSIGNED to RUNNING, if the attempt is still the current one. */
    public boolean markRunning(String taskId, String attemptId) {
        Task task = currentAttempt(taskId, attemptId);
        if (task == null || !TaskTransitions.isAllowed(task.getState(), TaskState.RUNNING)) {
            return false;
        }
        task.moveTo(TaskState.RUNNING);
        task.setStartedAt(Task.nowUtc());
        attempt(attemptId).setStartedAt(task.getStartedAt());
        return true;
    }

    /**
     * Records how the attempt ended, if it is still the current one and the task is still in flight. A non-zero exit
     * with retries left sends the task back to the queue instead.
     */
    public Settled finish(String taskId, String attemptId, TaskResult result) {
        Task task = currentAttempt(taskId, attemptId);
        if (task == null || !TaskTransitions.isAllowed(task.getState(), result.state())) {
            return Settled.IGNORED;
        }
        boolean nonZeroExit = result.state() == TaskState.FAILED && result.exitCode() != null && result.exitCode() != 0;
        if (nonZeroExit && !task.isCancelRequested() && task.getRetriesUsed() < task.getRetries()) {
            task.setRetriesUsed(task.getRetriesUsed() + 1);
            // A retry is a fresh run: it does not count against the attempts allowed for lost workers.
            task.setAttemptCount(task.getAttemptCount() - 1);
            backToQueue(task, "FAILED", "exit code " + result.exitCode() + "; retry " + task.getRetriesUsed()
                    + " of " + task.getRetries());
            return Settled.REQUEUED;
        }
        task.moveTo(result.state());
        task.setExitCode(result.exitCode());
        task.setStdout(result.stdout());
        task.setStdoutTruncated(result.stdoutTruncated());
        task.setStderr(result.stderr());
        task.setStderrTruncated(result.stderrTruncated());
        task.setReason(result.reason());
        task.setFinishedAt(Task.nowUtc());
        attempt(attemptId).end(result.state().name(), result.reason(), task.getFinishedAt());
        return Settled.FINAL;
    }

    /**
     * ASSIGNED back to QUEUED: the agent handed the attempt back before starting anything, so it does not count
     * against maxAttempts. It does count against {@code refusalLimit}: a task that agents keep handing back fails with
     * a reason instead of circling forever.
     */
    public Settled requeueRefused(String taskId, String attemptId, String reason, int refusalLimit) {
        Task task = currentAttempt(taskId, attemptId);
        if (task == null || task.getState() != TaskState.ASSIGNED) {
            return Settled.IGNORED;
        }
        task.setAttemptCount(task.getAttemptCount() - 1);
        task.setRefusals(task.getRefusals() + 1);
        if (task.isCancelRequested()) {
            cancelNow(task, attemptId);
            return Settled.FINAL;
        }
        if (task.getRefusals() >= refusalLimit) {
            String why = "agents handed the task back unstarted " + task.getRefusals() + " times (the limit, "
                    + "taskgrid.task.refusal.limit); the last said: " + reason;
            task.moveTo(TaskState.FAILED);
            task.setReason(why);
            task.setFinishedAt(Task.nowUtc());
            attempt(attemptId).end("REFUSED", reason, task.getFinishedAt());
            return Settled.FINAL;
        }
        backToQueue(task, "REFUSED", reason);
        return Settled.REQUEUED;
    }

    /**
     * The attempt's result could not be stored (it failed in the database): the task ends FAILED with a reason and
     * without its output, so that neither the task nor the agent's report stays stuck. Its own transaction.
     */
    @Transactional(Transactional.TxType.REQUIRES_NEW)
    public boolean failUnstorable(String taskId, String attemptId, String reason) {
        Task task = currentAttempt(taskId, attemptId);
        if (task == null || !TaskTransitions.inFlight().contains(task.getState())) {
            return false;
        }
        task.moveTo(TaskState.FAILED);
        task.setReason(reason);
        task.setFinishedAt(Task.nowUtc());
        attempt(attemptId).end("FAILED", reason, task.getFinishedAt());
        return true;
    }

    /** The owners of the given attempts that exist, by attempt id. */
    @Transactional(Transactional.TxType.SUPPORTS)
    public Map<String, AttemptOwner> attemptOwners(Collection<String> attemptIds) {
        Map<String, AttemptOwner> owners = new HashMap<>();
        List<String> ids = List.copyOf(attemptIds);
        for (int from = 0; from < ids.size(); from += 500) {
            em.createQuery("SELECT NEW io.taskgrid.master.task.AttemptOwner(a.id, a.taskId, a.workerId) "
                            + "FROM Attempt a WHERE a.id IN :ids", AttemptOwner.class)
                    .setParameter("ids", ids.subList(from, Math.min(ids.size(), from + 500)))
                    .getResultList()
                    .forEach(owner -> owners.put(owner.attemptId(), owner));
        }
        return owners;
    }

    /**
     * The attempt's worker was lost and did not come back within the grace period. The task goes back to the queue
     * while it has attempts left, and is LOST after that; one whose cancel was asked for is CANCELLED.
     *
     * @return the state the task is in now, or empty if the attempt was no longer current and in flight
     */
    public Optional<TaskState> expireLostAttempt(String taskId, String attemptId, String reason) {
        Task task = currentAttempt(taskId, attemptId);
        if (task == null || !TaskTransitions.inFlight().contains(task.getState())) {
            return Optional.empty();
        }
        if (task.isCancelRequested()) {
            cancelNow(task, attemptId);
        } else if (task.getAttemptCount() < task.getMaxAttempts()) {
            backToQueue(task, "LOST", reason);
        } else {
            task.moveTo(TaskState.LOST);
            String why = reason + "; no attempts left (" + task.getAttemptCount() + " of " + task.getMaxAttempts() + ")";
            task.setReason(why);
            task.setFinishedAt(Task.nowUtc());
            attempt(attemptId).end("LOST", why, task.getFinishedAt());
        }
        return Optional.of(task.getState());
    }

    /** What {@link #cancel} did. */
    public enum CancelOutcome {
        NOT_FOUND, ALREADY_FINAL, CANCELLED, IN_FLIGHT
    }

    /** The outcome of a cancel, with the task as it is now. */
    public record Cancellation(CancelOutcome outcome, Task task) {
    }

    /** A queued task is CANCELLED at once; one in flight is marked, and its worker must stop it. */
    public Cancellation cancel(String taskId) {
        Task task = em.find(Task.class, taskId, LockModeType.PESSIMISTIC_WRITE);
        if (task == null) {
            return new Cancellation(CancelOutcome.NOT_FOUND, null);
        }
        if (task.getState().isFinal()) {
            return new Cancellation(CancelOutcome.ALREADY_FINAL, task);
        }
        if (task.getState() == TaskState.QUEUED) {
            task.moveTo(TaskState.CANCELLED);
            task.setCancelRequested(true);
            task.setReason("cancelled while queued");
            task.setFinishedAt(Task.nowUtc());
            return new Cancellation(CancelOutcome.CANCELLED, task);
        }
        task.setCancelRequested(true);
        return new Cancellation(CancelOutcome.IN_FLIGHT, task);
    }

    /** Every task still ASSIGNED or RUNNING, as (task id, attempt id) pairs. */
    @Transactional(Transactional.TxType.SUPPORTS)
    public List<Object[]> inFlightAttempts() {
        return em.createQuery("SELECT t.id, t.attemptId FROM Task t WHERE t.state IN :states", Object[].class)
                .setParameter("states", TaskTransitions.inFlight())
                .getResultList();
    }

    /** Whether {@code attemptId} is the current attempt of a task in flight, and whether its cancel was asked for. */
    @Transactional(Transactional.TxType.SUPPORTS)
    public Optional<Boolean> cancelRequestedIfCurrent(String taskId, String attemptId) {
        Task task = em.find(Task.class, taskId);
        if (task == null || !attemptId.equals(task.getAttemptId())
                || !TaskTransitions.inFlight().contains(task.getState())) {
            return Optional.empty();
        }
        return Optional.of(task.isCancelRequested());
    }

    private void cancelNow(Task task, String attemptId) {
        task.moveTo(TaskState.CANCELLED);
        task.setReason("cancelled");
        task.setFinishedAt(Task.nowUtc());
        attempt(attemptId).end("CANCELLED", "cancelled", task.getFinishedAt());
    }

    private void backToQueue(Task task, String outcome, String reason) {
        attempt(task.getAttemptId()).end(outcome, reason, Task.nowUtc());
        task.moveTo(TaskState.QUEUED);
        task.setWorkerId(null);
        task.setAttemptId(null);
        task.setAssignedAt(null);
        task.setStartedAt(null);
        LOG.info(() -> "task " + task.getId() + " queued again: " + reason);
    }

    private Attempt attempt(String attemptId) {
        return em.find(Attempt.class, attemptId);
    }

    private Task currentAttempt(String taskId, String attemptId) {
        Task task = em.find(Task.class, taskId, LockModeType.PESSIMISTIC_WRITE);
        if (task == null) {
            LOG.warning(() -> "report for unknown task " + taskId + " ignored");
            return null;
        }
        if (attemptId == null || !attemptId.equals(task.getAttemptId())) {
            LOG.warning(() -> "report for task " + taskId + " names attempt " + attemptId
                    + " but the current attempt is " + task.getAttemptId() + "; ignored");
            return null;
        }
        return task;
    }
}
