package io.taskgrid.master.grpc;

import io.grpc.stub.ServerCallStreamObserver;
import io.taskgrid.master.dispatch.WorkerChannel;
import io.taskgrid.master.task.Task;
import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.CancelAttempt;
import io.taskgrid.proto.v1.Registered;
import io.taskgrid.proto.v1.WorkerCommand;

import java.util.List;
import java.util.Map;
import java.util.function.Function;

/** A worker's AssignTask stream, as dispatch sees it. */
final class StreamWorkerChannel implements WorkerChannel {

    private final ServerCallStreamObserver<WorkerCommand> stream;
    private final long outputLimitBytes;
    private final Function<Task, Map<String, String>> secretEnv;

    /** @param secretEnv opens a task's secretEnv: it goes to the agent in the assignment, and nowhere else */
    StreamWorkerChannel(ServerCallStreamObserver<WorkerCommand> stream, long outputLimitBytes,
                        Function<Task, Map<String, String>> secretEnv) {
        this.stream = stream;
        this.outputLimitBytes = outputLimitBytes;
        this.secretEnv = secretEnv;
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
                .putAllEnv(secretEnv.apply(task))
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

    /** The first message of the stream: the agent may report from now on; these claims were refused. */
    synchronized void registered(List<String> refusedAttemptIds) {
        if (!stream.isCancelled()) {
            stream.onNext(WorkerCommand.newBuilder()
                    .setRegistered(Registered.newBuilder().addAllRefusedAttemptIds(refusedAttemptIds)).build());
        }
    }
}
