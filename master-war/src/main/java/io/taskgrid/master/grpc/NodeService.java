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
import io.taskgrid.proto.Protocol;
import io.taskgrid.proto.WorkerLimits;
import io.taskgrid.proto.v1.AgentMessage;
import io.taskgrid.proto.v1.AssignTaskRequest;
import io.taskgrid.proto.v1.DrainAck;
import io.taskgrid.proto.v1.DrainRequest;
import io.taskgrid.proto.v1.Hello;
import io.taskgrid.proto.v1.MasterMessage;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.OutputAck;
import io.taskgrid.proto.v1.OutputChunk;
import io.taskgrid.proto.v1.Phase;
import io.taskgrid.proto.v1.ReportAck;
import io.taskgrid.proto.v1.RunningAttempt;
import io.taskgrid.proto.v1.StatusReport;
import io.taskgrid.proto.v1.Verdict;
import io.taskgrid.proto.v1.WorkerCommand;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.time.Duration;
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
    static final int MAX_CLAIMS = Protocol.MAX_HELD;
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

    /**
     * Protocol 1's registration, answered only with a refusal that names both protocols. UNAUTHENTICATED because an
     * agent of protocol 1 takes exactly that status, before it was ever accepted, as final and exits: any other would
     * make it retry for ever against a master it cannot speak to.
     */
    @Override
    public void assignTask(AssignTaskRequest request, StreamObserver<WorkerCommand> responseObserver) {
        refusedRegistrations.warn(() -> "refused an agent of protocol 1 (worker " + SafeText.oneLine(
                request.getWorkerId(), WorkerLimits.MAX_WORKER_ID_LENGTH) + "): this master speaks protocol "
                + Protocol.VERSION);
        responseObserver.onError(Status.UNAUTHENTICATED.withDescription(OLD_PROTOCOL).asRuntimeException());
    }

    static final String OLD_PROTOCOL = "this master speaks agent protocol " + Protocol.VERSION + " (Connect); this "
            + "agent speaks protocol 1 (AssignTask): upgrade the agent to the master's release (master and agents are "
            + "upgraded together)";

    @Override
    public StreamObserver<AgentMessage> connect(StreamObserver<MasterMessage> responseObserver) {
        return new AgentStream(this, (ServerCallStreamObserver<MasterMessage>) responseObserver,
                config.outputLimitBytes(), AgentBounds.currentConnection(), bounds().currentToken());
    }

    /**
     * A worker registered on a Connect stream, and what undoes it when the stream ends (once, whichever way it ends).
     */
    record Registration(ConnectedWorker worker, Runnable release) {
    }

    /** A stream can take more: there may be assignments for it. */
    void readyForMore() {
        dispatcher.requestDispatch();
    }

    /**
     * Registers the worker a Hello names on {@code stream}. Empty, with the stream ended, when it is refused.
     * Registered goes out once the dispatcher has looked at the claims: an agent reports nothing before it, so that no
     * report of a claimed attempt can come before the dispatcher knows whether it is still current.
     */
    Optional<Registration> register(Hello request, ServerCallStreamObserver<MasterMessage> stream,
                                    StreamWorkerChannel channel, AgentBounds.Connection connection) {
        String workerId = request.getWorkerId();
        if (request.getProtocolValue() != Protocol.VERSION) {
            refusedRegistrations.warn(() -> "refused worker " + SafeText.oneLine(workerId,
                    WorkerLimits.MAX_WORKER_ID_LENGTH) + ": it speaks agent protocol " + request.getProtocolValue());
            stream.onError(Status.FAILED_PRECONDITION.withDescription("this master speaks agent protocol "
                    + Protocol.VERSION + "; this agent speaks protocol " + request.getProtocolValue() + ": upgrade "
                    + "master and agents together").asRuntimeException());
            return Optional.empty();
        }
        Optional<String> invalid = invalidRegistration(request);
        if (invalid.isPresent()) {
            stream.onError(Status.INVALID_ARGUMENT.withDescription(invalid.get()).asRuntimeException());
            return Optional.empty();
        }
        AgentBounds bounds = bounds();
        // Bounded before anything is read or held: a client making up workers on one connection, or filling the
        // registry, costs the master no query.
        if (!connection.tryAddWorker()) {
            refusedRegistrations.warn(() -> "refused to register worker " + workerId + ": its connection has "
                    + WorkerLimits.MAX_WORKERS_PER_CONNECTION + " worker(s) registered already");
            stream.onError(Status.RESOURCE_EXHAUSTED.withDescription("this connection has "
                    + WorkerLimits.MAX_WORKERS_PER_CONNECTION + " worker(s) registered, the most one connection may "
                    + "have: an agent registers one worker per channel").asRuntimeException());
            return Optional.empty();
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
            return Optional.empty();
        }
        // Claims are checked against the store before anything is reserved: a client that names an attempt of
        // another worker must never hold it, not even for the moment it would take to check later.
        List<String> claimedIds = request.getHeldList().stream().map(RunningAttempt::getAttemptId).toList();
        Map<String, AttemptOwner> owners = claimedIds.isEmpty() ? Map.of() : store.attemptOwners(claimedIds);
        Map<String, String> claimed = new LinkedHashMap<>();
        List<String> refused = new ArrayList<>();
        for (RunningAttempt attempt : request.getHeldList()) {
            AttemptOwner owner = owners.get(attempt.getAttemptId());
            if (owner != null && owner.isOf(workerId, attempt.getTaskId())) {
                claimed.put(attempt.getTaskId(), attempt.getAttemptId());
            } else {
                refused.add(attempt.getAttemptId());
            }
        }
        ConnectedWorker worker = new ConnectedWorker(workerId, request.getSessionId(), request.getSlots(),
                request.getPrefetch(), Labels.of(request.getLabelsMap()), channel, Instant.now());
        // Attempts still held from an earlier connection keep their credit until reported, so the agent is never sent
        // more than it can take, and they are the worker's again before any grace period runs out. Only once the
        // dispatcher has found them current may this session report them (see Dispatcher.workerConnected).
        claimed.forEach(worker::claim);
        try {
            registry.register(worker, bounds.workersMax());
        } catch (WorkerIdInUseException e) {
            uncount.run();
            worker.close();
            stream.onError(Status.ALREADY_EXISTS.withDescription(e.getMessage()).asRuntimeException());
            return Optional.empty();
        } catch (WorkerRegistry.Full e) {
            uncount.run();
            worker.close();
            refuseFull(stream, workerId, e.max());
            return Optional.empty();
        }
        String version = SafeText.oneLine(request.getAgentVersion(), MAX_VERSION_CHARS);
        LOG.info(() -> "worker " + workerId + " connected with " + request.getSlots() + " slot(s)"
                + (request.getPrefetch() == 0 ? "" : ", prefetch " + request.getPrefetch())
                + (worker.labels().isEmpty() ? "" : ", labels " + worker.labels())
                + (claimed.isEmpty() ? "" : ", still holding " + claimed.size() + " attempt(s)")
                + (version.isEmpty() ? "" : ", agent " + version));
        if (!refused.isEmpty()) {
            foreignClaims.warn(() -> "worker " + workerId + " claimed " + refused.size() + " attempt(s) that were never "
                    + "handed to it (first: " + refused.get(0) + "); refused");
        }
        dispatcher.workerConnected(worker, claimed).whenComplete((stale, failure) -> {
            if (failure == null) {
                channel.registered(refused, stale);
                dispatcher.requestDispatch();
            } else {
                channel.fail(Status.UNAVAILABLE.withDescription("the master is stopping").asRuntimeException());
            }
        });
        return Optional.of(new Registration(worker, () -> {
            uncount.run();
            dispatcher.workerGone(worker, "connection closed");
        }));
    }

    private void refuseFull(ServerCallStreamObserver<MasterMessage> stream, String workerId, int max) {
        refusedRegistrations.warn(() -> "refused to register worker " + workerId + ": " + max + " workers are "
                + "connected (taskgrid.workers.max)");
        stream.onError(Status.RESOURCE_EXHAUSTED.withDescription(max + " workers are connected, the most this master "
                + "takes (taskgrid.workers.max); try again later").asRuntimeException());
    }

    private static Optional<String> invalidRegistration(Hello request) {
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
        if (!Protocol.isPrefetch(request.getPrefetch(), request.getSlots())) {
            return Optional.of("prefetch must be between 0 and " + Protocol.MAX_PREFETCH_PER_SLOT + " x slots, at most "
                    + Protocol.MAX_PREFETCH);
        }
        if (request.getHeldCount() > MAX_CLAIMS) {
            return Optional.of("at most " + MAX_CLAIMS + " held attempts may be claimed");
        }
        try {
            Labels.of(request.getLabelsMap());
        } catch (IllegalArgumentException e) {
            return Optional.of("labels: " + e.getMessage());
        }
        for (RunningAttempt attempt : request.getHeldList()) {
            if (!TaskIds.looksValid(attempt.getTaskId()) || !TaskIds.looksValid(attempt.getAttemptId())) {
                return Optional.of("a claimed attempt has a malformed task_id or attempt_id");
            }
        }
        return Optional.empty();
    }

    /**
     * One report of the worker registered on the stream it came on. The answer, once what it changed is durable (the
     * agent keeps the report until then): TAKEN, REFUSED for a report this session may never make, RETRY for one the
     * master cannot take now. It completes with null when the worker's connection closed meanwhile: nobody is left
     * to answer.
     */
    CompletableFuture<ReportAck> take(ConnectedWorker worker, StatusReport report, AgentBounds.Connection connection,
                                      AgentBounds.Token token) {
        if (!TaskIds.looksValid(report.getTaskId()) || !TaskIds.looksValid(report.getAttemptId())) {
            TaskgridMetrics.REPORTS_REFUSED.inc("invalid");
            return answer(report, Verdict.REFUSED, false, "task_id and attempt_id must be the ids the master handed out");
        }
        String taskId = report.getTaskId();
        String attemptId = report.getAttemptId();
        if (!worker.holds(taskId, attemptId)) {
            if (worker.holdsStale(taskId, attemptId)) {
                // Claimed on reconnecting, but its task moved on meanwhile: acknowledged, so that the agent's outbox
                // empties, and nothing changes. Its credit is back once the agent says the attempt is over.
                if (report.getPhase() == Phase.FINISHED && worker.releaseStale(taskId, attemptId)) {
                    dispatcher.requestDispatch();
                }
                return answer(report, Verdict.TAKEN, false, "");
            }
            TaskgridMetrics.REPORTS_REFUSED.inc("not_its_attempt");
            if (worker.firstForeignAttempt(attemptId)) {
                foreignReports.warn(() -> "worker " + worker.id() + " reported on attempt " + attemptId + " of task "
                        + taskId + ", which this connection does not hold (never handed to it, or not claimed when it "
                        + "registered); refused");
            }
            return answer(report, Verdict.REFUSED, false, "attempt " + attemptId + " is not held by this connection of "
                    + "worker " + worker.id() + " (a reconnecting agent names its attempts in its Hello)");
        }
        CompletableFuture<Boolean> applied = switch (report.getPhase()) {
            case ACCEPTED -> CompletableFuture.completedFuture(true);
            case STARTED -> dispatcher.started(worker, taskId, attemptId);
            case FINISHED -> finished(worker, report, connection, token);
            default -> null;
        };
        if (applied == null) {
            if (report.getPhase() == Phase.FINISHED) {
                TaskgridMetrics.REPORTS_REFUSED.inc("busy");
                return answer(report, Verdict.RETRY, false, "too much output of this connection or join token waits "
                        + "to be written; send the report again later");
            }
            TaskgridMetrics.REPORTS_REFUSED.inc("invalid");
            return answer(report, Verdict.REFUSED, false, "phase must be STARTED or FINISHED");
        }
        return applied.handle((changed, failure) -> {
            Throwable cause = failure instanceof CompletionException && failure.getCause() != null
                    ? failure.getCause() : failure;
            if (cause instanceof Dispatcher.NotHeld) {
                return null;
            }
            if (failure != null) {
                TaskgridMetrics.REPORTS_REFUSED.inc("not_stored");
                LOG.log(Level.SEVERE, "could not store the " + report.getPhase() + " report of task " + taskId, failure);
                return ack(report, Verdict.RETRY, false, "the master could not store this report now; send it again "
                        + "later");
            }
            output.signals().changed(taskId);
            return ack(report, Verdict.TAKEN, changed, "");
        });
    }

    private static CompletableFuture<ReportAck> answer(StatusReport report, Verdict verdict, boolean applied,
                                                       String reason) {
        return CompletableFuture.completedFuture(ack(report, verdict, applied, reason));
    }

    private static ReportAck ack(StatusReport report, Verdict verdict, boolean applied, String reason) {
        return ReportAck.newBuilder().setSeq(report.getSeq()).setVerdict(verdict).setApplied(applied)
                .setReason(reason).build();
    }

    /**
     * A FINISHED report of an attempt this session holds. Its output is closed first (chunks taken before are in the
     * writer's queue ahead of what the report writes, later ones are refused); the streamed output is then completed
     * from the report, and only then does the dispatcher end the attempt, checking again that this session holds it.
     * Null when the output the report would store does not fit the bounds now.
     */
    private CompletableFuture<Boolean> finished(ConnectedWorker worker, StatusReport report,
                                                AgentBounds.Connection connection, AgentBounds.Token token) {
        String taskId = report.getTaskId();
        String attemptId = report.getAttemptId();
        if (report.getOutcome() == Outcome.REJECTED || report.getOutcome() == Outcome.RETURNED) {
            boolean returned = report.getOutcome() == Outcome.RETURNED;
            String reason = reasonOf(report, returned ? "given back unstarted" : "handed back unstarted");
            return worker.closeOutput(taskId, attemptId).orElse(CompletableFuture.completedFuture(null))
                    .thenCompose(v -> returned ? dispatcher.returned(worker, taskId, attemptId, reason)
                            : dispatcher.refused(worker, taskId, attemptId, reason));
        }
        AgentBounds bounds = bounds();
        long bytes = OutputStreamHandler.settles(report) ? (long) report.getStdout().size() + report.getStderr().size() : 0;
        if (bytes > 0 && !bounds.tryTakeReport(connection, token, bytes)) {
            return null;
        }
        Duration ranFor = report.hasRanMicros() && report.getRanMicros() >= 0
                ? Duration.ofNanos(Math.min(report.getRanMicros(), Long.MAX_VALUE / 1000) * 1000) : null;
        Optional<CompletableFuture<Void>> drained = worker.closeOutput(taskId, attemptId);
        if (drained.isEmpty()) {
            // Another report of the attempt was taken meanwhile: the dispatcher answers as for a repeated report.
            bounds.giveReport(connection, token, bytes);
            return dispatcher.finished(worker, taskId, attemptId, resultOf(report), ranFor);
        }
        if (bytes == 0 && drained.get().isDone()) {
            // Nothing streamed and nothing to settle, as for most short commands: straight to the dispatcher.
            return dispatcher.finished(worker, taskId, attemptId, resultOf(report), ranFor);
        }
        // The streamed output is complete before the task is final, so a follower that sees it end has all of it.
        return drained.get()
                .thenCompose(v -> OutputStreamHandler.settle(output, report))
                .whenComplete((v, e) -> bounds.giveReport(connection, token, bytes))
                .thenCompose(v -> dispatcher.finished(worker, taskId, attemptId, resultOf(report), ranFor));
    }

    @Override
    public StreamObserver<OutputChunk> streamOutput(StreamObserver<OutputAck> responseObserver) {
        return OutputStreamHandler.open(responseObserver, registry, output, bounds());
    }

    /** The worker asks to be sent nothing more; the answer says how many of its attempts are still in flight. */
    DrainAck drain(ConnectedWorker worker, DrainRequest request) {
        // The agent's own words (it is shutting down, it cannot start processes, ...), on one line and bounded.
        String reason = request.getReason().isEmpty() ? "the agent is shutting down"
                : SafeText.oneLine(request.getReason(), MAX_DRAIN_REASON_CHARS);
        worker.drain(reason);
        LOG.info(() -> "worker " + worker.id() + " is draining (" + reason + "): no new tasks go to it");
        return DrainAck.newBuilder().setInFlight(worker.running()).build();
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
