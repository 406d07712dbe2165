package io.taskgrid.master.grpc;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.taskgrid.master.config.TaskgridConfig;
import io.taskgrid.master.dispatch.ConnectedWorker;
import io.taskgrid.master.dispatch.Dispatcher;
import io.taskgrid.master.dispatch.WorkerIdInUseException;
import io.taskgrid.master.dispatch.WorkerRegistry;
import io.taskgrid.master.metrics.TaskgridMetrics;
import io.taskgrid.master.output.OutputStore;
import io.taskgrid.master.output.OutputWindow;
import io.taskgrid.master.task.AgentOutcome;
import io.taskgrid.master.task.AttemptOwner;
import io.taskgrid.master.task.Labels;
import io.taskgrid.master.task.TaskIds;
import io.taskgrid.master.task.TaskResult;
import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.text.SafeText;
import io.taskgrid.proto.WorkerLimits;
import io.taskgrid.proto.v1.AssignTaskRequest;
import io.taskgrid.proto.v1.DrainAck;
import io.taskgrid.proto.v1.DrainRequest;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.OutputAck;
import io.taskgrid.proto.v1.OutputChunk;
import io.taskgrid.proto.v1.ReportAck;
import io.taskgrid.proto.v1.RunningAttempt;
import io.taskgrid.proto.v1.StatusReport;
import io.taskgrid.proto.v1.WorkerCommand;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.regex.Pattern;

/**
 * The master's side of the agent protocol. It implements the generated {@code AsyncService} interface rather than
 * extending {@code NodeServiceImplBase}: the base class's final {@code bindService()} cannot be proxied by CDI.
 *
 * <p>A join token only lets a client register. What a client says after that is believed only for the attempts that
 * are its own: a report must come from the live connection (worker id and session) of the worker the attempt was
 * handed to, and a reconnecting agent may claim only attempts that were handed to its worker id. Everything an agent
 * sends is validated and cut to size here, before it reaches a log line or a column.
 */
@ApplicationScoped
public class NodeService implements NodeServiceGrpc.AsyncService {

    private static final Logger LOG = Logger.getLogger(NodeService.class.getName());
    /** The agent checks its --id by the same rule (WorkerLimits), so what it starts with is what is taken here. */
    static final Pattern WORKER_ID = WorkerLimits.WORKER_ID;
    static final Pattern SESSION_ID = Pattern.compile("[A-Za-z0-9-]{1,64}");
    static final int MAX_SLOTS = WorkerLimits.MAX_SLOTS;
    /** An agent claims what it runs (at most its slots) and what waits in its outbox; far below this. */
    static final int MAX_CLAIMS = 1024;
    static final int MAX_VERSION_CHARS = 64;
    /** The reason column holds this many characters. */
    static final int MAX_REASON_CHARS = 2000;
    /** A worker's drain reason (GET /workers) is kept to this many characters. */
    static final int MAX_DRAIN_REASON_CHARS = 300;

    @Inject
    WorkerRegistry registry;

    @Inject
    Dispatcher dispatcher;

    @Inject
    TaskStore store;

    @Inject
    TaskgridConfig config;

    @Inject
    OutputStore output;

    @Override
    public void assignTask(AssignTaskRequest request, StreamObserver<WorkerCommand> responseObserver) {
        ServerCallStreamObserver<WorkerCommand> stream = (ServerCallStreamObserver<WorkerCommand>) responseObserver;
        String workerId = request.getWorkerId();
        Optional<String> invalid = invalidRegistration(request);
        if (invalid.isPresent()) {
            stream.onError(Status.INVALID_ARGUMENT.withDescription(invalid.get()).asRuntimeException());
            return;
        }
        // Claims are checked against the store before anything is reserved: a client that names an attempt of
        // another worker must never hold it, not even for the moment it would take to check later.
        List<String> claimedIds = request.getRunningList().stream().map(RunningAttempt::getAttemptId).toList();
        Map<String, AttemptOwner> owners = claimedIds.isEmpty() ? Map.of() : store.attemptOwners(claimedIds);
        Map<String, String> claimed = new LinkedHashMap<>();
        List<String> refused = new ArrayList<>();
        for (RunningAttempt attempt : request.getRunningList()) {
            AttemptOwner owner = owners.get(attempt.getAttemptId());
            if (owner != null && owner.isOf(workerId, attempt.getTaskId())) {
                claimed.put(attempt.getTaskId(), attempt.getAttemptId());
            } else {
                refused.add(attempt.getAttemptId());
            }
        }
        StreamWorkerChannel channel = new StreamWorkerChannel(stream, config.outputLimitBytes());
        ConnectedWorker worker = new ConnectedWorker(workerId, request.getSessionId(), request.getSlots(),
                Labels.of(request.getLabelsMap()), channel, Instant.now());
        // Attempts still held from an earlier connection keep their slots until reported, so the agent is never sent
        // more than it can start, and they are the worker's again before any grace period runs out.
        claimed.forEach(worker::claim);
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
        channel.registered(refused);
        String version = SafeText.oneLine(request.getAgentVersion(), MAX_VERSION_CHARS);
        LOG.info(() -> "worker " + workerId + " connected with " + request.getSlots() + " slot(s)"
                + (worker.labels().isEmpty() ? "" : ", labels " + worker.labels())
                + (claimed.isEmpty() ? "" : ", still holding " + claimed.size() + " attempt(s)")
                + (version.isEmpty() ? "" : ", agent " + version));
        if (!refused.isEmpty()) {
            LOG.warning(() -> "worker " + workerId + " claimed " + refused.size() + " attempt(s) that were never "
                    + "handed to it (first: " + refused.get(0) + "); refused");
        }
        dispatcher.workerConnected(worker, claimed);
    }

    private static Optional<String> invalidRegistration(AssignTaskRequest request) {
        if (!WORKER_ID.matcher(request.getWorkerId()).matches()) {
            return Optional.of("worker_id must be 1 to " + WorkerLimits.MAX_WORKER_ID_LENGTH
                    + " characters of A-Z a-z 0-9 . _ -, and not . or ..");
        }
        if (request.getSlots() < 1 || request.getSlots() > MAX_SLOTS) {
            return Optional.of("slots must be between 1 and " + MAX_SLOTS);
        }
        if (!SESSION_ID.matcher(request.getSessionId()).matches()) {
            return Optional.of("session_id must be 1 to 64 characters of A-Z a-z 0-9 -");
        }
        if (request.getRunningCount() > MAX_CLAIMS) {
            return Optional.of("at most " + MAX_CLAIMS + " running attempts may be claimed");
        }
        try {
            Labels.of(request.getLabelsMap());
        } catch (IllegalArgumentException e) {
            return Optional.of("labels: " + e.getMessage());
        }
        for (RunningAttempt attempt : request.getRunningList()) {
            if (!TaskIds.looksValid(attempt.getTaskId()) || !TaskIds.looksValid(attempt.getAttemptId())) {
                return Optional.of("a claimed attempt has a malformed task_id or attempt_id");
            }
        }
        return Optional.empty();
    }

    @Override
    public void reportStatus(StatusReport report, StreamObserver<ReportAck> responseObserver) {
        if (!TaskIds.looksValid(report.getTaskId()) || !TaskIds.looksValid(report.getAttemptId())) {
            TaskgridMetrics.REPORTS_REFUSED.inc("invalid");
            responseObserver.onError(Status.INVALID_ARGUMENT
                    .withDescription("task_id and attempt_id must be the ids the master handed out").asRuntimeException());
            return;
        }
        Optional<ConnectedWorker> reporter = WORKER_ID.matcher(report.getWorkerId()).matches()
                ? registry.get(report.getWorkerId()).filter(w -> w.isSession(report.getSessionId()))
                : Optional.empty();
        if (reporter.isEmpty()) {
            // Also the case of an agent between two connections: it keeps the report and sends it once registered.
            TaskgridMetrics.REPORTS_REFUSED.inc("not_registered");
            responseObserver.onError(Status.FAILED_PRECONDITION.withDescription("no open connection of worker '"
                    + SafeText.echo(report.getWorkerId()) + "' with this session: register (AssignTask) first, "
                    + "then report").asRuntimeException());
            return;
        }
        ConnectedWorker worker = reporter.get();
        if (!worker.holds(report.getTaskId(), report.getAttemptId()) && !ownAttempt(worker, report)) {
            TaskgridMetrics.REPORTS_REFUSED.inc("not_its_attempt");
            if (worker.firstForeignAttempt(report.getAttemptId())) {
                LOG.warning(() -> "worker " + worker.id() + " reported on attempt " + report.getAttemptId() + " of task "
                        + report.getTaskId() + ", which was never handed to it; refused");
            }
            responseObserver.onError(Status.PERMISSION_DENIED.withDescription("attempt " + report.getAttemptId()
                    + " was not handed to worker " + worker.id()).asRuntimeException());
            return;
        }
        worker.seen(Instant.now());
        String taskId = report.getTaskId();
        String attemptId = report.getAttemptId();
        CompletableFuture<Boolean> applied = switch (report.getPhase()) {
            case ACCEPTED -> CompletableFuture.completedFuture(true);
            case STARTED -> dispatcher.started(worker, taskId, attemptId);
            case FINISHED -> report.getOutcome() == Outcome.REJECTED
                    ? dispatcher.refused(worker, taskId, attemptId, reasonOf(report, "handed back unstarted"))
                    // The streamed output is complete before the task is final, so a follower that sees it end
                    // has all of it.
                    : OutputStreamHandler.settle(output, report)
                            .thenCompose(v -> dispatcher.finished(worker, taskId, attemptId, resultOf(report)));
            default -> null;
        };
        if (applied == null) {
            responseObserver.onError(Status.INVALID_ARGUMENT
                    .withDescription("phase must be ACCEPTED, STARTED or FINISHED").asRuntimeException());
            return;
        }
        // Answered once what the report changed is durable; the agent keeps the report until then.
        applied.whenComplete((changed, failure) -> {
            if (failure != null) {
                TaskgridMetrics.REPORTS_REFUSED.inc("not_stored");
                LOG.log(Level.SEVERE, "could not store the " + report.getPhase() + " report of task " + taskId, failure);
                responseObserver.onError(Status.UNAVAILABLE.withDescription(
                        "the master could not store this report now; send it again later").asRuntimeException());
            } else {
                responseObserver.onNext(ReportAck.newBuilder().setApplied(changed).build());
                responseObserver.onCompleted();
                output.signals().changed(taskId);
            }
        });
    }

    @Override
    public StreamObserver<OutputChunk> streamOutput(StreamObserver<OutputAck> responseObserver) {
        return OutputStreamHandler.open(responseObserver, registry, output);
    }

    /** Whether the store says the attempt was handed to this worker (its slot bookkeeping may have let go of it). */
    private boolean ownAttempt(ConnectedWorker worker, StatusReport report) {
        AttemptOwner owner = store.attemptOwners(List.of(report.getAttemptId())).get(report.getAttemptId());
        return owner != null && owner.isOf(worker.id(), report.getTaskId());
    }

    @Override
    public void drain(DrainRequest request, StreamObserver<DrainAck> responseObserver) {
        Optional<ConnectedWorker> worker = WORKER_ID.matcher(request.getWorkerId()).matches()
                ? registry.get(request.getWorkerId()).filter(w -> w.isSession(request.getSessionId()))
                : Optional.empty();
        if (worker.isEmpty()) {
            responseObserver.onError(Status.NOT_FOUND.withDescription("no connected worker '"
                    + SafeText.echo(request.getWorkerId()) + "' with this session").asRuntimeException());
            return;
        }
        // The agent's own words (it is shutting down, it cannot start processes, ...), on one line and bounded.
        String reason = request.getReason().isEmpty() ? "the agent is shutting down"
                : SafeText.oneLine(request.getReason(), MAX_DRAIN_REASON_CHARS);
        worker.get().drain(reason);
        LOG.info(() -> "worker " + request.getWorkerId() + " is draining (" + reason + "): no new tasks go to it");
        responseObserver.onNext(DrainAck.newBuilder().setInFlight(worker.get().running()).build());
        responseObserver.onCompleted();
    }

    /** The agent's reason on one line and cut to the column, or {@code fallback} when it gave none. */
    static String reasonOf(StatusReport report, String fallback) {
        return report.getReason().isEmpty() ? fallback : SafeText.oneLine(report.getReason(), MAX_REASON_CHARS);
    }

    TaskResult resultOf(StatusReport report) {
        // Room for the marker line an agent puts between the head and the tail it kept.
        long limit = config.outputLimitBytes() + OutputWindow.MARKER_ALLOWANCE;
        CapturedOutput out = CapturedOutput.of(report.getStdout(), report.getStdoutTruncated(), limit);
        CapturedOutput err = CapturedOutput.of(report.getStderr(), report.getStderrTruncated(), limit);
        AgentOutcome outcome = switch (report.getOutcome()) {
            case EXITED -> AgentOutcome.EXITED;
            case TIMED_OUT -> AgentOutcome.TIMED_OUT;
            case FAILED_TO_START -> AgentOutcome.FAILED_TO_START;
            case KILLED -> AgentOutcome.KILLED;
            case CANCELLED -> AgentOutcome.CANCELLED;
            default -> AgentOutcome.UNKNOWN;
        };
        return TaskResult.of(outcome, report.getExitCode(), out.text(), out.truncated(), err.text(), err.truncated(),
                report.getReason().isEmpty() ? null : reasonOf(report, null));
    }
}
