package io.taskgrid.master.grpc;

import io.grpc.stub.ServerCallStreamObserver;
import io.taskgrid.master.dispatch.Dispatched;
import io.taskgrid.master.dispatch.WorkerChannel;
import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.CancelAttempt;
import io.taskgrid.proto.v1.Registered;
import io.taskgrid.proto.v1.WorkerCommand;

import java.util.List;

/** A worker's AssignTask stream, as dispatch sees it. Messages go out one at a time: gRPC streams are not thread-safe. */
final class StreamWorkerChannel implements WorkerChannel {

    private final ServerCallStreamObserver<WorkerCommand> stream;
    private final long outputLimitBytes;
    /** Whether {@code Registered} went out: no assignment goes before it (the agent learns it is registered first). */
    private volatile boolean registered;

    StreamWorkerChannel(ServerCallStreamObserver<WorkerCommand> stream, long outputLimitBytes) {
        this.stream = stream;
        this.outputLimitBytes = outputLimitBytes;
    }

    @Override
    public boolean isReady() {
        return registered && stream.isReady() && !stream.isCancelled();
    }

    @Override
    public synchronized void send(Dispatched task) {
        if (stream.isCancelled()) {
            return;
        }
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
        stream.onNext(WorkerCommand.newBuilder().setAssignment(assignment).build());
    }

    @Override
    public synchronized void cancel(String taskId, String attemptId) {
        if (!stream.isCancelled()) {
            stream.onNext(WorkerCommand.newBuilder()
                    .setCancel(CancelAttempt.newBuilder().setTaskId(taskId).setAttemptId(attemptId)).build());
        }
    }

    /** The first message of the stream: the agent may report from now on; these claims were refused. */
    synchronized void registered(List<String> refusedAttemptIds) {
        if (!stream.isCancelled()) {
            stream.onNext(WorkerCommand.newBuilder()
                    .setRegistered(Registered.newBuilder().addAllRefusedAttemptIds(refusedAttemptIds)).build());
        }
        registered = true;
    }
}
