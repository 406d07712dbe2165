package io.taskgrid.master.dispatch;

/** A second connection asked for the id of a worker that is still connected. */
public class WorkerIdInUseException extends Exception {
    public WorkerIdInUseException(String workerId) {
        super("worker id '" + workerId + "' is already connected");
    }
}
