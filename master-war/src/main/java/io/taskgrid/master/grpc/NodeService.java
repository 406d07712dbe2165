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
import io.taskgrid.master.security.RefusalLog;
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
import io.taskgrid.proto.v1.Phase;
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
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.regex.Pattern;

/**
 * The master's side of the agent protocol. It implements the generated {@code AsyncService} interface rather than
 * extending {@code NodeServiceImplBase}: the base class's final {@code bindService()} cannot be proxied by CDI.
 *
 * <p>A join token only lets a client register. What a client says after that is believed only for the attempts its
 * session holds now: a report, a claim or an output chunk is taken only from the live connection (worker id and
 * session) that holds the attempt. An attempt is held by the session it was handed to, or by a later session of the
 * same worker id that claimed it when it registered while it was still its task's current attempt: registering under
 * the id of a worker that is gone gains nothing but that claim. A claimed attempt that is no longer current keeps its
 * slot until the agent reports it, and that report changes nothing. Everything an agent sends is validated and cut to
 * size here, before it reaches a log line or a column; what a client can make the master hold is bounded by
 * {@link AgentBounds}.
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

    private AgentBounds bounds;
    /** One per kind of refusal a client can cause, so that a flood of one kind hides no first line of another. */
    private final RefusalLog foreignReports = new RefusalLog(LOG, "such report(s) refused");
    private final RefusalLog foreignClaims = new RefusalLog(LOG, "such registration(s)");
    private final RefusalLog refusedRegistrations = new RefusalLog(LOG, "registration(s) refused");

    /** The bounds of what agents may hold, from the settings; the server's interceptors use the same. */
    synchronized AgentBounds bounds() {
        if (bounds == null) {
            bounds = new AgentBounds(config);
        }
        return bounds;
    }

    @Override
    public void assignTask(AssignTaskRequest request, StreamObserver<WorkerCommand> responseObserver) {
        ServerCallStreamObserver<WorkerCommand> stream = (ServerCallStreamObserver<WorkerCommand>) responseObserver;
        String workerId = request.getWorkerId();
        Optional<String> invalid = invalidRegistration(request);
        if (invalid.isPresent()) {
            stream.onError(Status.INVALID_ARGUMENT.withDescription(invalid.get()).asRuntimeException());
            return;
        }
        AgentBounds bounds = bounds();
        // Bounded before anything is read or held: a client making up workers on one connection, or filling the
        // registry, costs the master no query.
        AgentBounds.Connection connection = AgentBounds.currentConnection();
        if (!connection.tryAddWorker()) {
            refusedRegistrations.warn(() -> "refused to register worker " + workerId + ": its connection has "
                    + WorkerLimits.MAX_WORKERS_PER_CONNECTION + " worker(s) registered already");
            stream.onError(Status.RESOURCE_EXHAUSTED.withDescription("this connection has "
                    + WorkerLimits.MAX_WORKERS_PER_CONNECTION + " worker(s) registered, the most one connection may "
                    + "have: an agent registers one worker per channel").asRuntimeException());
            return;
        }
        AtomicBoolean counted = new AtomicBoolean(true);
        Runnable uncount = () -> {
            if (counted.compareAndSet(true, false)) {
                connection.removeWorker();
            }
        };
        if (registry.size() >= bounds.workersMax()) {
            uncount.run();
            refuseFull(stream, workerId, bounds.workersMax());
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
        // more than it can start, and they are the worker's again before any grace period runs out. Only once the
        // dispatcher has found them current may this session report them (see Dispatcher.workerConnected).
        claimed.forEach(worker::claim);
        // Both handlers must be in place before this method returns, or a fast disconnect goes unseen.
        stream.setOnCancelHandler(() -> {
            uncount.run();
            dispatcher.workerGone(worker, "connection closed");
        });
        stream.setOnReadyHandler(() -> {
            worker.seen(Instant.now());
            dispatcher.requestDispatch();
        });
        try {
            registry.register(worker, bounds.workersMax());
        } catch (WorkerIdInUseException e) {
            uncount.run();
            worker.close();
            stream.onError(Status.ALREADY_EXISTS.withDescription(e.getMessage()).asRuntimeException());
            return;
        } catch (WorkerRegistry.Full e) {
            uncount.run();
            worker.close();
            refuseFull(stream, workerId, e.max());
            return;
        }
        String version = SafeText.oneLine(request.getAgentVersion(), MAX_VERSION_CHARS);
        LOG.info(() -> "worker " + workerId + " connected with " + request.getSlots() + " slot(s)"
                + (worker.labels().isEmpty() ? "" : ", labels " + worker.labels())
                + (claimed.isEmpty() ? "" : ", still holding " + claimed.size() + " attempt(s)")
                + (version.isEmpty() ? "" : ", agent " + version));
        if (!refused.isEmpty()) {
            foreignClaims.warn(() -> "worker " + workerId + " claimed " + refused.size() + " attempt(s) that were never "
                    + "handed to it (first: " + refused.get(0) + "); refused");
        }
        // Registered only once the dispatcher has looked at the claims: an agent reports nothing before this message,
        // so that no report of a claimed attempt can come before the dispatcher knows whether it is still current.
        dispatcher.workerConnected(worker, claimed).whenComplete((v, failure) -> {
            if (failure == null) {
                channel.registered(refused);
                dispatcher.requestDispatch();
            } else if (!stream.isCancelled()) {
                stream.onError(Status.UNAVAILABLE.withDescription("the master is stopping").asRuntimeException());
            }
        });
    }

    private void refuseFull(ServerCallStreamObserver<WorkerCommand> stream, String workerId, int max) {
        refusedRegistrations.warn(() -> "refused to register worker " + workerId + ": " + max + " workers are "
                + "connected (taskgrid.workers.max)");
        stream.onError(Status.RESOURCE_EXHAUSTED.withDescription(max + " workers are connected, the most this master "
                + "takes (taskgrid.workers.max); try again later").asRuntimeException());
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
            responseObserver.onError(notRegistered(report.getWorkerId()));
            return;
        }
        ConnectedWorker worker = reporter.get();
        String taskId = report.getTaskId();
        String attemptId = report.getAttemptId();
        if (!worker.holds(taskId, attemptId)) {
            if (worker.holdsStale(taskId, attemptId)) {
                // Claimed on reconnecting, but its task moved on meanwhile: acknowledged, so that the agent's outbox
                // empties, and nothing changes. Its slot is free once the agent says the attempt is over.
                if (report.getPhase() == Phase.FINISHED && worker.releaseStale(taskId, attemptId)) {
                    dispatcher.requestDispatch();
                }
                responseObserver.onNext(ReportAck.newBuilder().setApplied(false).build());
                responseObserver.onCompleted();
                return;
            }
            TaskgridMetrics.REPORTS_REFUSED.inc("not_its_attempt");
            if (worker.firstForeignAttempt(attemptId)) {
                foreignReports.warn(() -> "worker " + worker.id() + " reported on attempt " + attemptId + " of task "
                        + taskId + ", which this connection does not hold (never handed to it, or not claimed when it "
                        + "registered); refused");
            }
            responseObserver.onError(Status.PERMISSION_DENIED.withDescription("attempt " + attemptId + " is not held "
                    + "by this connection of worker " + worker.id() + " (a reconnecting agent claims its attempts when "
                    + "it registers)").asRuntimeException());
            return;
        }
        worker.seen(Instant.now());
        CompletableFuture<Boolean> applied = switch (report.getPhase()) {
            case ACCEPTED -> CompletableFuture.completedFuture(true);
            case STARTED -> dispatcher.started(worker, taskId, attemptId);
            case FINISHED -> finished(worker, report, responseObserver);
            default -> null;
        };
        if (applied == null) {
            if (report.getPhase() != Phase.FINISHED) {
                responseObserver.onError(Status.INVALID_ARGUMENT
                        .withDescription("phase must be ACCEPTED, STARTED or FINISHED").asRuntimeException());
            }
            return;
        }
        // Answered once what the report changed is durable; the agent keeps the report until then.
        applied.whenComplete((changed, failure) -> {
            Throwable cause = failure instanceof CompletionException && failure.getCause() != null
                    ? failure.getCause() : failure;
            if (cause instanceof Dispatcher.NotHeld) {
                TaskgridMetrics.REPORTS_REFUSED.inc("not_registered");
                responseObserver.onError(notRegistered(worker.id()));
            } else if (failure != null) {
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

    private static io.grpc.StatusRuntimeException notRegistered(String workerId) {
        return Status.FAILED_PRECONDITION.withDescription("no open connection of worker '" + SafeText.echo(workerId)
                + "' with this session holds the attempt: register (AssignTask) first, then report")
                .asRuntimeException();
    }

    /**
     * A FINISHED report of an attempt this session holds. Its output is closed first (chunks taken before are in the
     * writer's queue ahead of what the report writes, later ones are refused); the streamed output is then completed
     * from the report, and only then does the dispatcher end the attempt, checking again that this session holds it.
     * Null (the call answered here) when the output the report would store does not fit the bounds now.
     */
    private CompletableFuture<Boolean> finished(ConnectedWorker worker, StatusReport report,
                                                StreamObserver<ReportAck> responseObserver) {
        String taskId = report.getTaskId();
        String attemptId = report.getAttemptId();
        if (report.getOutcome() == Outcome.REJECTED) {
            return worker.closeOutput(taskId, attemptId).orElse(CompletableFuture.completedFuture(null))
                    .thenCompose(v -> dispatcher.refused(worker, taskId, attemptId,
                            reasonOf(report, "handed back unstarted")));
        }
        AgentBounds bounds = bounds();
        AgentBounds.Connection connection = AgentBounds.currentConnection();
        AgentBounds.Token token = bounds.currentToken();
        long bytes = OutputStreamHandler.settles(report) ? (long) report.getStdout().size() + report.getStderr().size() : 0;
        if (bytes > 0 && !bounds.tryTakeReport(connection, token, bytes)) {
            TaskgridMetrics.REPORTS_REFUSED.inc("busy");
            responseObserver.onError(Status.RESOURCE_EXHAUSTED.withDescription("too much output of this connection or "
                    + "join token waits to be written; send the report again later").asRuntimeException());
            return null;
        }
        Optional<CompletableFuture<Void>> drained = worker.closeOutput(taskId, attemptId);
        if (drained.isEmpty()) {
            // Another report of the attempt was taken meanwhile: the dispatcher answers as for a repeated report.
            bounds.giveReport(connection, token, bytes);
            return dispatcher.finished(worker, taskId, attemptId, resultOf(report));
        }
        // The streamed output is complete before the task is final, so a follower that sees it end has all of it.
        return drained.get()
                .thenCompose(v -> OutputStreamHandler.settle(output, report))
                .whenComplete((v, e) -> bounds.giveReport(connection, token, bytes))
                .thenCompose(v -> dispatcher.finished(worker, taskId, attemptId, resultOf(report)));
    }

    @Override
    public StreamObserver<OutputChunk> streamOutput(StreamObserver<OutputAck> responseObserver) {
        return OutputStreamHandler.open(responseObserver, registry, output, bounds());
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
