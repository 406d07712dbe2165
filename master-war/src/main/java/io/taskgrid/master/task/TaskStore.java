package io.taskgrid.master.task;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.persistence.EntityManager;
import jakarta.persistence.LockModeType;
import jakarta.persistence.PersistenceContext;
import jakarta.persistence.TypedQuery;
import jakarta.transaction.Transactional;

import java.util.List;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * The durable record of every task. Every change of state goes through {@link Task#moveTo} inside a transaction that
 * holds the row lock, and every change that comes from a worker names the attempt it is about: a report for any other
 * attempt than the current one changes nothing.
 */
@ApplicationScoped
@Transactional
public class TaskStore {

    private static final Logger LOG = Logger.getLogger(TaskStore.class.getName());

    @PersistenceContext(unitName = "taskgrid")
    private EntityManager em;

    public Task create(NewTask spec) {
        Task task = new Task(TaskIds.next(), spec, Task.nowUtc());
        em.persist(task);
        return task;
    }

    @Transactional(Transactional.TxType.SUPPORTS)
    public Optional<Task> find(String id) {
        return Optional.ofNullable(em.find(Task.class, id));
    }

    /** Newest first, strictly older than {@code beforeId} when it is given. */
    @Transactional(Transactional.TxType.SUPPORTS)
    public List<Task> list(TaskState state, String beforeId, int limit) {
        StringBuilder jpql = new StringBuilder("SELECT t FROM Task t WHERE 1 = 1");
        if (state != null) {
            jpql.append(" AND t.state = :state");
        }
        if (beforeId != null) {
            jpql.append(" AND t.id < :before");
        }
        jpql.append(" ORDER BY t.id DESC");
        TypedQuery<Task> query = em.createQuery(jpql.toString(), Task.class).setMaxResults(limit);
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
     * QUEUED to ASSIGNED for the given worker and new attempt.
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
        return true;
    }

    /** Records how the attempt ended, if it is still the current one and the task is still in flight. */
    public boolean finish(String taskId, String attemptId, TaskResult result) {
        Task task = currentAttempt(taskId, attemptId);
        if (task == null || !TaskTransitions.isAllowed(task.getState(), result.state())) {
            return false;
        }
        task.moveTo(result.state());
        task.setExitCode(result.exitCode());
        task.setStdout(result.stdout());
        task.setStdoutTruncated(result.stdoutTruncated());
        task.setStderr(result.stderr());
        task.setStderrTruncated(result.stderrTruncated());
        task.setReason(result.reason());
        task.setFinishedAt(Task.nowUtc());
        return true;
    }

    /** ASSIGNED back to QUEUED: the agent refused the attempt before starting anything. */
    public boolean requeue(String taskId, String attemptId) {
        Task task = currentAttempt(taskId, attemptId);
        if (task == null || task.getState() != TaskState.ASSIGNED) {
            return false;
        }
        task.moveTo(TaskState.QUEUED);
        task.setWorkerId(null);
        task.setAttemptId(null);
        task.setAssignedAt(null);
        return true;
    }

    /** Marks the attempt LOST if it is still the current one and still in flight. */
    public boolean markLost(String taskId, String attemptId, String reason) {
        Task task = currentAttempt(taskId, attemptId);
        if (task == null || !TaskTransitions.isAllowed(task.getState(), TaskState.LOST)) {
            return false;
        }
        task.moveTo(TaskState.LOST);
        task.setReason(reason);
        task.setFinishedAt(Task.nowUtc());
        return true;
    }

    /** Every task still ASSIGNED or RUNNING, as (task id, attempt id) pairs. */
    @Transactional(Transactional.TxType.SUPPORTS)
    public List<Object[]> inFlightAttempts() {
        return em.createQuery("SELECT t.id, t.attemptId FROM Task t WHERE t.state IN :states", Object[].class)
                .setParameter("states", TaskTransitions.inFlight())
                .getResultList();
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
