package io.taskgrid.master.grpc;

import io.grpc.stub.ServerCallStreamObserver;
import io.taskgrid.master.dispatch.Dispatched;
import io.taskgrid.master.dispatch.WorkerChannel;
import io.taskgrid.proto.v1.Acks;
import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.Assignments;
import io.taskgrid.proto.v1.CancelAttempt;
import io.taskgrid.proto.v1.DrainAck;
import io.taskgrid.proto.v1.GiveBack;
import io.taskgrid.proto.v1.MasterMessage;
import io.taskgrid.proto.v1.Registered;
import io.taskgrid.proto.v1.ReportAck;

import java.util.ArrayList;
import java.util.List;

/**
 * A worker's Connect stream, as dispatch sees it. Messages go out one at a time (gRPC streams are not thread-safe);
 * what is ready together goes out together: the assignments of one dispatch pass in one message, the answers to one
 * Reports message in another.
 */
final class StreamWorkerChannel implements WorkerChannel {

    private final ServerCallStreamObserver<MasterMessage> stream;
    private final long outputLimitBytes;
    /** Whether {@code Registered} went out: no assignment goes before it (the agent learns it is registered first). */
    private volatile boolean registered;
    private boolean closed;
    /** Cancels asked for before Registered went out; guarded by this. */
    private final List<MasterMessage> beforeRegistered = new ArrayList<>();

    StreamWorkerChannel(ServerCallStreamObserver<MasterMessage> stream, long outputLimitBytes) {
        this.stream = stream;
        this.outputLimitBytes = outputLimitBytes;
    }

    @Override
    public boolean isReady() {
        return registered && stream.isReady() && !stream.isCancelled();
    }

    boolean isRegistered() {
        return registered;
    }

    @Override
    public void send(Dispatched task) {
        sendAll(List.of(task));
    }

    @Override
    public void sendAll(List<Dispatched> tasks) {
        if (tasks.isEmpty()) {
            return;
        }
        Assignments.Builder batch = Assignments.newBuilder();
        for (Dispatched task : tasks) {
            batch.addAssignments(assignment(task));
        }
        emit(MasterMessage.newBuilder().setAssignments(batch).build());
    }

    private Assignment assignment(Dispatched task) {
        Assignment.Builder assignment = Assignment.newBuilder()
                .setTaskId(task.taskId())
                .setAttemptId(task.attemptId())
                .setCmd(task.cmd())
                .putAllEnv(task.env())
                .setOutputLimitBytes(outputLimitBytes);
        // The secrets, opened by the dispatcher before it assigned the task, go to the agent here and nowhere else.
        assignment.putAllEnv(task.secretEnv());
        if (task.cwd() != null) {
            assignment.setCwd(task.cwd());
        }
        if (task.timeoutSeconds() != null) {
            assignment.setTimeoutSeconds(task.timeoutSeconds());
        }
        return assignment.build();
    }

    @Override
    public void cancel(String taskId, String attemptId) {
        MasterMessage cancel = MasterMessage.newBuilder()
                .setCancel(CancelAttempt.newBuilder().setTaskId(taskId).setAttemptId(attemptId)).build();
        synchronized (this) {
            if (!registered) {
                // An agent takes nothing before Registered: a cancel of a claimed attempt goes right after it.
                beforeRegistered.add(cancel);
                return;
            }
        }
        emit(cancel);
    }

    @Override
    public void giveBack(List<String> attemptIds) {
        MasterMessage giveBack = MasterMessage.newBuilder()
                .setGiveBack(GiveBack.newBuilder().addAllAttemptIds(attemptIds)).build();
        synchronized (this) {
            if (!registered) {
                beforeRegistered.add(giveBack);
                return;
            }
        }
        emit(giveBack);
    }

    /**
     * The first message of the stream: the agent may report from now on; these claims were refused (never its own),
     * and these are no longer current (it stops them). Cancels asked for meanwhile follow it.
     */
    synchronized void registered(List<String> refusedAttemptIds, List<String> staleAttemptIds) {
        emit(MasterMessage.newBuilder().setRegistered(Registered.newBuilder()
                .addAllRefusedAttemptIds(refusedAttemptIds).addAllStaleAttemptIds(staleAttemptIds)).build());
        registered = true;
        beforeRegistered.forEach(this::emit);
        beforeRegistered.clear();
    }

    void acks(List<ReportAck> acks) {
        emit(MasterMessage.newBuilder().setAcks(Acks.newBuilder().addAllAcks(acks)).build());
    }

    void drained(DrainAck ack) {
        emit(MasterMessage.newBuilder().setDrained(ack).build());
    }

    synchronized void complete() {
        if (!closed && !stream.isCancelled()) {
            closed = true;
            stream.onCompleted();
        }
    }

    synchronized void fail(Throwable status) {
        if (!closed && !stream.isCancelled()) {
            closed = true;
            stream.onError(status);
        }
    }

    private synchronized void emit(MasterMessage message) {
        if (closed || stream.isCancelled()) {
            return;
        }
        try {
            stream.onNext(message);
        } catch (IllegalStateException | io.grpc.StatusRuntimeException e) {
            // The call ended under us (cancelled between the check and the write); its cancel handler cleans up.
            closed = true;
        }
    }
}
