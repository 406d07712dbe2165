package io.taskgrid.master.grpc;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.taskgrid.master.dispatch.ConnectedWorker;
import io.taskgrid.master.dispatch.Dispatcher;
import io.taskgrid.master.dispatch.WorkerIdInUseException;
import io.taskgrid.master.dispatch.WorkerRegistry;
import io.taskgrid.master.task.TaskResult;
import io.taskgrid.master.task.TaskState;
import io.taskgrid.master.task.TaskStore;
import io.taskgrid.proto.v1.AssignTaskRequest;
import io.taskgrid.proto.v1.WorkerCommand;
import io.taskgrid.proto.v1.DrainAck;
import io.taskgrid.proto.v1.DrainRequest;
import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import io.taskgrid.proto.v1.ReportAck;
import io.taskgrid.proto.v1.StatusReport;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.logging.Logger;

/**
 * The master's side of the agent protocol. It implements the generated {@code AsyncService} interface rather than
 * extending {@code NodeServiceImplBase}: the base class's final {@code bindService()} cannot be proxied by CDI.
 */
@ApplicationScoped
public class NodeService implements NodeServiceGrpc.AsyncService {

    private static final Logger LOG = Logger.getLogger(NodeService.class.getName());
    static final Pattern WORKER_ID = Pattern.compile("[A-Za-z0-9._-]{1,64}");
    static final int MAX_SLOTS = 256;

    @Inject
    WorkerRegistry registry;

    @Inject
    Dispatcher dispatcher;

    @Inject
    TaskStore store;

    @Inject
    @ConfigProperty(name = "taskgrid.output.limit.bytes", defaultValue = "1048576")
    long outputLimitBytes;

    @Override
    public void assignTask(AssignTaskRequest request, StreamObserver<WorkerCommand> responseObserver) {
        ServerCallStreamObserver<WorkerCommand> stream = (ServerCallStreamObserver<WorkerCommand>) responseObserver;
        String workerId = request.getWorkerId();
        if (!WORKER_ID.matcher(workerId).matches()) {
            stream.onError(Status.INVALID_ARGUMENT
                    .withDescription("worker_id must be 1 to 64 characters of A-Z a-z 0-9 . _ -").asRuntimeException());
            return;
        }
        if (request.getSlots() < 1 || request.getSlots() > MAX_SLOTS) {
            stream.onError(Status.INVALID_ARGUMENT
                    .withDescription("slots must be between 1 and " + MAX_SLOTS).asRuntimeException());
            return;
        }
        StreamWorkerChannel channel = new StreamWorkerChannel(stream, outputLimitBytes,
                task -> store.openSecretEnv(task));
        ConnectedWorker worker = new ConnectedWorker(workerId, request.getSessionId(), request.getSlots(), channel,
                Instant.now());
        // Commands still running from an earlier connection hold their slots until reported, so the agent is never
        // sent more than it can start, and their attempts are claimed by this worker before any grace runs out.
        Map<String, String> claimed = new LinkedHashMap<>();
        request.getRunningList().forEach(attempt -> {
            if (worker.reserve(attempt.getTaskId(), attempt.getAttemptId())) {
                claimed.put(attempt.getTaskId(), attempt.getAttemptId());
            }
        });
        // Both handlers must be in place before this method returns, or a fast disconnect goes unseen.
        stream.setOnCancelHandler(() -> dispatcher.workerGone(worker, "connection closed"));
        stream.setOnReadyHandler(() -> {
            worker.seen(Instant.now());
            dispatcher.requestDispatch();
        });
        try {
            registry.register(worker);
        } catch (WorkerIdInUseException e) {
            worker.close();
            stream.onError(Status.ALREADY_EXISTS.withDescription(e.getMessage()).asRuntimeException());
            return;
        }
        LOG.info(() -> "worker " + workerId + " connected with " + request.getSlots() + " slot(s)"
                + (claimed.isEmpty() ? "" : ", still running " + claimed.size())
                + (request.getAgentVersion().isEmpty() ? "" : ", agent " + request.getAgentVersion()));
        dispatcher.workerConnected(worker, claimed);
    }

    @Override
    public void reportStatus(StatusReport report, StreamObserver<ReportAck> responseObserver) {
        if (report.getTaskId().isEmpty() || report.getAttemptId().isEmpty()) {
            responseObserver.onError(Status.INVALID_ARGUMENT
                    .withDescription("task_id and attempt_id are required").asRuntimeException());
            return;
        }
        registry.get(report.getWorkerId()).ifPresent(worker -> worker.seen(Instant.now()));
        boolean applied;
        switch (report.getPhase()) {
            case ACCEPTED -> applied = true;
            case STARTED -> applied = store.markRunning(report.getTaskId(), report.getAttemptId());
            case FINISHED -> {
                applied = report.getOutcome() == Outcome.REJECTED
                        ? store.requeueRefused(report.getTaskId(), report.getAttemptId(), report.getReason())
                        : store.finish(report.getTaskId(), report.getAttemptId(), resultOf(report))
                        != TaskStore.Settled.IGNORED;
                dispatcher.attemptEnded(report.getWorkerId(), report.getTaskId(), report.getAttemptId());
            }
            default -> {
                responseObserver.onError(Status.INVALID_ARGUMENT
                        .withDescription("phase must be ACCEPTED, STARTED or FINISHED").asRuntimeException());
                return;
            }
        }
        responseObserver.onNext(ReportAck.newBuilder().setApplied(applied).build());
        responseObserver.onCompleted();
    }

    @Override
    public void drain(DrainRequest request, StreamObserver<DrainAck> responseObserver) {
        Optional<ConnectedWorker> worker = registry.get(request.getWorkerId())
                .filter(w -> w.isSession(request.getSessionId()));
        if (worker.isEmpty()) {
            responseObserver.onError(Status.NOT_FOUND.withDescription("no connected worker '" + request.getWorkerId()
                    + "' with this session").asRuntimeException());
            return;
        }
        worker.get().drain();
        LOG.info(() -> "worker " + request.getWorkerId() + " is draining: no new tasks go to it");
        responseObserver.onNext(DrainAck.newBuilder().setInFlight(worker.get().running()).build());
        responseObserver.onCompleted();
    }

    TaskResult resultOf(StatusReport report) {
        CapturedOutput out = CapturedOutput.of(report.getStdout(), report.getStdoutTruncated(), outputLimitBytes);
        CapturedOutput err = CapturedOutput.of(report.getStderr(), report.getStderrTruncated(), outputLimitBytes);
        String reason = report.getReason().isEmpty() ? null : report.getReason();
        return switch (report.getOutcome()) {
            case EXITED -> new TaskResult(report.getExitCode() == 0 ? TaskState.SUCCEEDED : TaskState.FAILED,
                    report.getExitCode(), out.text(), out.truncated(), err.text(), err.truncated(), reason);
            case TIMED_OUT -> new TaskResult(TaskState.TIMED_OUT, null, out.text(), out.truncated(), err.text(),
                    err.truncated(), reason != null ? reason : "timed out");
            case FAILED_TO_START -> new TaskResult(TaskState.FAILED, null, out.text(), out.truncated(), err.text(),
                    err.truncated(), reason != null ? reason : "the command could not be started");
            case CANCELLED -> new TaskResult(TaskState.CANCELLED, null, out.text(), out.truncated(), err.text(),
                    err.truncated(), reason != null ? reason : "cancelled");
            case KILLED -> new TaskResult(TaskState.FAILED, null, out.text(), out.truncated(), err.text(),
                    err.truncated(), reason != null ? reason : "killed by the agent");
            default -> new TaskResult(TaskState.FAILED, null, out.text(), out.truncated(), err.text(),
                    err.truncated(), "the agent reported no outcome");
        };
    }
}
