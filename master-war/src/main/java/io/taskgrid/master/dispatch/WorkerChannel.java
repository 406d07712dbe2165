package io.taskgrid.master.dispatch;

import io.taskgrid.master.task.Task;

/**
 * The way down to one connected worker. Implemented by the gRPC layer, so that dispatch decides who gets what
 * without knowing how it travels.
 */
public interface WorkerChannel {

    /** True when the transport will take another message without buffering it (gRPC flow control). */
    boolean isReady();

    /** Pushes the assignment of {@code task} under attempt {@code attemptId}; never blocks. */
    void send(Task task, String attemptId);

    /** Tells the worker to stop that attempt's process tree; never blocks. */
    void cancel(String taskId, String attemptId);
}
