package io.taskgrid.master.grpc;

import io.grpc.stub.ServerCallStreamObserver;
import io.taskgrid.master.dispatch.WorkerChannel;
import io.taskgrid.master.task.Task;
import io.taskgrid.proto.v1.Assignment;

/** A worker's AssignTask stream, as dispatch sees it. */
final class StreamWorkerChannel implements WorkerChannel {

    private final ServerCallStreamObserver<Assignment> stream;
    private final long outputLimitBytes;

    StreamWorkerChannel(ServerCallStreamObserver<Assignment> stream, long outputLimitBytes) {
        this.stream = stream;
        this.outputLimitBytes = outputLimitBytes;
    }

    @Override
    public boolean isReady() {
        return stream.isReady() && !stream.isCancelled();
    }

    @Override
    public synchronized void send(Task task, String attemptId) {
        Assignment.Builder assignment = Assignment.newBuilder()
                .setTaskId(task.getId())
                .setAttemptId(attemptId)
                .setCmd(task.getCmd())
                .putAllEnv(task.getEnv())
                .setOutputLimitBytes(outputLimitBytes);
        if (task.getCwd() != null) {
            assignment.setCwd(task.getCwd());
        }
        if (task.getTimeoutSeconds() != null) {
            assignment.setTimeoutSeconds(task.getTimeoutSeconds());
        }
        stream.onNext(assignment.build());
    }

    synchronized void complete() {
        if (!stream.isCancelled()) {
            stream.onCompleted();
        }
    }
}
