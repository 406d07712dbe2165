package io.taskgrid.master.task;

/**
 * The worker an attempt was handed to: what decides whether a connection may speak for that attempt. A top-level
 * record because JPQL constructor expressions name it.
 */
public record AttemptOwner(String attemptId, String taskId, String workerId) {

    public boolean isOf(String worker, String task) {
        return workerId.equals(worker) && taskId.equals(task);
    }
}
