package io.taskgrid.master.dispatch;

/**
 * The way down to one connected worker. Implemented by the gRPC layer, so that dispatch decides who gets what
 * without knowing how it travels.
 */
public interface WorkerChannel {

    /** True when the transport will take another message without buffering it (gRPC flow control). */
    boolean isReady();

    /** Pushes an assignment; never blocks. */
    void send(Dispatched assignment);

    /** Pushes assignments that are ready together, in one message where the transport can; never blocks. */
    default void sendAll(java.util.List<Dispatched> assignments) {
        assignments.forEach(this::send);
    }

    /** Tells the worker to stop that attempt's process tree; never blocks. */
    void cancel(String taskId, String attemptId);

    /** Asks the worker to give back these attempts (ids) if it has not started them; never blocks. */
    void giveBack(java.util.List<String> attemptIds);
}
