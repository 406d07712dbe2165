package io.taskgrid.master.grpc;

import io.grpc.stub.ServerCallStreamObserver;
import io.taskgrid.master.dispatch.WorkerChannel;
import io.taskgrid.master.task.Task;
import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.CancelAttempt;
import io.taskgrid.proto.v1.WorkerCommand;

/** A worker's AssignTask stream, as dispatch sees it. */
final class StreamWorkerChannel implements WorkerChannel {

    private final ServerCallStreamObserver<WorkerCommand> stream;
    private final long outputLimitBytes;

    StreamWorkerChannel(ServerCallStreamObserver<WorkerCommand> stream, long outputLimitBytes) {
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
        stream.onNext(WorkerCommand.newBuilder().setAssignment(assignment).build());
    }

    @Override
    public synchronized void cancel(String taskId, String attemptId) {
        if (!stream.isCancelled()) {
            stream.onNext(WorkerCommand.newBuilder()
                    .setCancel(CancelAttempt.newBuilder().setTaskId(taskId).setAttemptId(attemptId)).build());
        }
    }

    synchronized void complete() {
        if (!stream.isCancelled()) {
            stream.onCompleted();
        }
    }
}
