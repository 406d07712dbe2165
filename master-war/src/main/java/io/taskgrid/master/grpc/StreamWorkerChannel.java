package io.taskgrid.master.grpc;

import io.grpc.stub.ServerCallStreamObserver;
import io.taskgrid.master.dispatch.Dispatched;
import io.taskgrid.master.dispatch.WorkerChannel;
import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.CancelAttempt;
import io.taskgrid.proto.v1.Registered;
import io.taskgrid.proto.v1.WorkerCommand;

import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

/** A worker's AssignTask stream, as dispatch sees it. Messages go out one at a time: gRPC streams are not thread-safe. */
final class StreamWorkerChannel implements WorkerChannel {

    private final ServerCallStreamObserver<WorkerCommand> stream;
    private final long outputLimitBytes;
    private final BiFunction<String, String, Map<String, String>> openSecretEnv;

    /** @param openSecretEnv opens a task's sealed secretEnv: it goes to the agent in the assignment, and nowhere else */
    StreamWorkerChannel(ServerCallStreamObserver<WorkerCommand> stream, long outputLimitBytes,
                        BiFunction<String, String, Map<String, String>> openSecretEnv) {
        this.stream = stream;
        this.outputLimitBytes = outputLimitBytes;
        this.openSecretEnv = openSecretEnv;
    }

    @Override
    public boolean isReady() {
        return stream.isReady() && !stream.isCancelled();
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
        if (task.secretEnvSealed() != null) {
            assignment.putAllEnv(openSecretEnv.apply(task.taskId(), task.secretEnvSealed()));
        }
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
    }
}
