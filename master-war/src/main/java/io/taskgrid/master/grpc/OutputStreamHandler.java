package io.taskgrid.master.grpc;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.taskgrid.master.dispatch.ConnectedWorker;
import io.taskgrid.master.dispatch.WorkerRegistry;
import io.taskgrid.master.output.AttemptNotCurrent;
import io.taskgrid.master.output.OutputStore;
import io.taskgrid.master.output.OutputWindow;
import io.taskgrid.master.output.StdStream;
import io.taskgrid.master.security.RefusalLog;
import io.taskgrid.master.task.TaskIds;
import io.taskgrid.master.text.SafeText;
import io.taskgrid.proto.WorkerLimits;
import io.taskgrid.proto.v1.OutputAck;
import io.taskgrid.proto.v1.OutputChunk;
import io.taskgrid.proto.v1.OutputStream;
import io.taskgrid.proto.v1.StatusReport;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The master's end of one agent's StreamOutput call. Flow control is manual: the master asks gRPC for the next chunk
 * only once a chunk is stored and its acknowledgement could be sent, with at most {@link #WINDOW} chunks in hand, and
 * only while the bounds of the call's connection, of its join token and of the master have room for another chunk
 * ({@link AgentBounds}): what one agent, one join token, or all of them can make the master hold is bounded, however
 * chatty their tasks and however many calls they open, and an agent that does not read its acknowledgements stops
 * itself.
 *
 * <p>The same rule as for reports: a chunk is believed only from the live connection (worker id and session) that holds
 * the attempt. The call is bound to the worker and session of its first chunk; a chunk naming another, or malformed in
 * any way (ids, stream, offset, size), ends the call. A chunk of an attempt the connection does not hold (ended,
 * cancelled, never its own), or whose final report is being taken, is answered {@code refused}, and nothing is stored.
 */
final class OutputStreamHandler implements StreamObserver<OutputChunk> {

    private static final Logger LOG = Logger.getLogger(OutputStreamHandler.class.getName());
    private static final RefusalLog REFUSED_CALLS = new RefusalLog(LOG, "call(s) refused");
    static final int WINDOW = 4;
    /** What each chunk asked for takes from the bounds until it has come (then its size, until it is stored). */
    private static final long CHUNK = OutputWindow.MAX_CHUNK;

    private final ServerCallStreamObserver<OutputAck> responses;
    private final WorkerRegistry registry;
    private final OutputStore store;
    private final AgentBounds bounds;
    private final AgentBounds.Connection connection;
    private final AgentBounds.Token token;
    /** Guards every use of {@code responses} and the counts below: acks are sent from the writer's thread too. */
    private final Object lock = new Object();
    private String workerId;
    private String sessionId;
    /** Chunks the bounds made room for that have not come: {@link #CHUNK} each, given back when the call ends. */
    private int reserved;
    /** Of those, how many are not asked of gRPC yet, because the agent does not read its acknowledgements. */
    private int owedRequests;
    /** Room asked of the bounds and not granted yet: at most {@link #WINDOW}. */
    private final List<AgentBounds.Waiter> waiting = new ArrayList<>(WINDOW);
    private boolean ended;

    private OutputStreamHandler(ServerCallStreamObserver<OutputAck> responses, WorkerRegistry registry,
                                OutputStore store, AgentBounds bounds) {
        this.responses = responses;
        this.registry = registry;
        this.store = store;
        this.bounds = bounds;
        this.connection = AgentBounds.currentConnection();
        this.token = bounds.currentToken();
    }

    static StreamObserver<OutputChunk> open(StreamObserver<OutputAck> observer, WorkerRegistry registry,
                                            OutputStore store, AgentBounds bounds) {
        ServerCallStreamObserver<OutputAck> responses = (ServerCallStreamObserver<OutputAck>) observer;
        responses.disableAutoRequest();
        OutputStreamHandler handler = new OutputStreamHandler(responses, registry, store, bounds);
        if (!handler.connection.tryOpenOutputCall()) {
            REFUSED_CALLS.warn(() -> "refused a StreamOutput call: its connection has "
                    + WorkerLimits.MAX_OUTPUT_CALLS_PER_CONNECTION + " open");
            responses.onError(Status.RESOURCE_EXHAUSTED.withDescription("this connection has "
                    + WorkerLimits.MAX_OUTPUT_CALLS_PER_CONNECTION + " StreamOutput calls open, the most one connection "
                    + "may have; an agent needs one").asRuntimeException());
            return new StreamObserver<>() {
                @Override
                public void onNext(OutputChunk value) {
                }

                @Override
                public void onError(Throwable t) {
                }

                @Override
                public void onCompleted() {
                }
            };
        }
        responses.setOnReadyHandler(handler::ready);
        responses.setOnCancelHandler(handler::cancelled);
        for (int i = 0; i < WINDOW; i++) {
            handler.grant();
        }
        return handler;
    }

    @Override
    public void onNext(OutputChunk chunk) {
        // What this chunk holds of the bounds until it is stored: its size; the rest of what was taken goes back now.
        long held = Math.min(CHUNK, chunk.getData().size());
        synchronized (lock) {
            if (ended) {
                // What it took went back with the call's end.
                return;
            }
            reserved--;
        }
        bounds.give(connection, token, CHUNK - held);
        Optional<String> invalid = invalid(chunk);
        if (invalid.isPresent()) {
            end(Status.INVALID_ARGUMENT.withDescription(invalid.get()));
            bounds.give(connection, token, held);
            return;
        }
        if (workerId == null) {
            workerId = chunk.getWorkerId();
            sessionId = chunk.getSessionId();
        } else if (!workerId.equals(chunk.getWorkerId()) || !sessionId.equals(chunk.getSessionId())) {
            end(Status.INVALID_ARGUMENT.withDescription("every chunk of a call must name the same worker and session"));
            bounds.give(connection, token, held);
            return;
        }
        Optional<ConnectedWorker> sender = registry.get(workerId).filter(w -> w.isSession(sessionId));
        if (sender.isEmpty()) {
            end(Status.FAILED_PRECONDITION.withDescription("no open connection of worker '" + SafeText.echo(workerId)
                    + "' with this session: register (AssignTask) first, then stream output"));
            bounds.give(connection, token, held);
            return;
        }
        // Taken only while this session holds the attempt and its final report is not being handled: a chunk that
        // passes is in the writer's queue before anything the report writes.
        Optional<Runnable> appending = sender.get().beginAppend(chunk.getTaskId(), chunk.getAttemptId());
        if (appending.isEmpty()) {
            ack(chunk, 0, true);
            bounds.give(connection, token, held);
            grant();
            return;
        }
        StdStream stream = chunk.getStream() == OutputStream.STDOUT ? StdStream.STDOUT : StdStream.STDERR;
        CompletableFuture<Long> stored;
        try {
            stored = store.append(chunk.getTaskId(), chunk.getAttemptId(), stream, chunk.getOffset(),
                    chunk.getData().toByteArray());
        } catch (RuntimeException e) {
            stored = CompletableFuture.failedFuture(e);
        } finally {
            appending.get().run();
        }
        stored.whenComplete((end, failure) -> {
            if (failure != null) {
                if (!(cause(failure) instanceof AttemptNotCurrent)) {
                    // Kept out of the live stream from now on; the final report still carries the output.
                    LOG.log(Level.WARNING, "could not store output of task " + chunk.getTaskId() + "; the agent sends "
                            + "the rest with its result only", failure);
                }
                ack(chunk, 0, true);
            } else {
                ack(chunk, end, false);
            }
            bounds.give(connection, token, held);
            grant();
        });
    }

    private static Throwable cause(Throwable failure) {
        return failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
    }

    static Optional<String> invalid(OutputChunk chunk) {
        if (!NodeService.WORKER_ID.matcher(chunk.getWorkerId()).matches()
                || !NodeService.SESSION_ID.matcher(chunk.getSessionId()).matches()) {
            return Optional.of("worker_id and session_id must be the ones this agent registered with");
        }
        if (!TaskIds.looksValid(chunk.getTaskId()) || !TaskIds.looksValid(chunk.getAttemptId())) {
            return Optional.of("task_id and attempt_id must be the ids the master handed out");
        }
        if (chunk.getStream() != OutputStream.STDOUT && chunk.getStream() != OutputStream.STDERR) {
            return Optional.of("stream must be STDOUT or STDERR");
        }
        if (chunk.getData().isEmpty() || chunk.getData().size() > OutputWindow.MAX_CHUNK) {
            return Optional.of("a chunk carries 1 to " + OutputWindow.MAX_CHUNK + " bytes");
        }
        // The chunk's end too: a reader is handed that end as its next offset, which must be one it may ask for.
        if (chunk.getOffset() < 0 || chunk.getOffset() > OutputWindow.MAX_OFFSET - chunk.getData().size()) {
            return Optional.of("offset + length must be between 0 and " + OutputWindow.MAX_OFFSET);
        }
        return Optional.empty();
    }

    private void ack(OutputChunk chunk, long storedTo, boolean refused) {
        synchronized (lock) {
            if (ended || responses.isCancelled()) {
                return;
            }
            responses.onNext(OutputAck.newBuilder().setAttemptId(chunk.getAttemptId()).setStream(chunk.getStream())
                    .setStoredTo(storedTo).setRefused(refused).build());
        }
    }

    /**
     * The next chunk may come once the bounds have room for it: then asked of gRPC at once if the agent reads its
     * acknowledgements, else once it does.
     */
    private void grant() {
        synchronized (lock) {
            if (ended) {
                return;
            }
            waiting.removeIf(w -> !w.isWaiting());
        }
        AgentBounds.Waiter waiter = bounds.takeWhenFree(connection, token, CHUNK, this::granted);
        synchronized (lock) {
            if (waiter.isWaiting()) {
                waiting.add(waiter);
                if (ended) {
                    waiter.cancel();
                }
            }
        }
    }

    private void granted() {
        synchronized (lock) {
            if (!ended) {
                reserved++;
                if (responses.isReady()) {
                    responses.request(1);
                } else {
                    owedRequests++;
                }
                return;
            }
        }
        bounds.give(connection, token, CHUNK);
    }

    private void ready() {
        synchronized (lock) {
            if (!ended && owedRequests > 0) {
                responses.request(owedRequests);
                owedRequests = 0;
            }
        }
    }

    private void cancelled() {
        finish(null);
    }

    private void end(Status status) {
        finish(status);
    }

    /**
     * The call is over: with {@code status} sent to the agent when given. What its chunks not yet come had taken of the
     * bounds goes back, and the connection may open another call.
     */
    private void finish(Status status) {
        long unused;
        synchronized (lock) {
            if (ended) {
                return;
            }
            ended = true;
            if (status != null && !responses.isCancelled()) {
                responses.onError(status.asRuntimeException());
            }
            waiting.forEach(AgentBounds.Waiter::cancel);
            waiting.clear();
            unused = reserved * CHUNK;
            reserved = 0;
            owedRequests = 0;
        }
        bounds.give(connection, token, unused);
        connection.closeOutputCall();
    }

    @Override
    public void onError(Throwable t) {
        finish(null);
    }

    @Override
    public void onCompleted() {
        synchronized (lock) {
            if (!ended && !responses.isCancelled()) {
                responses.onCompleted();
            }
        }
        finish(null);
    }

    /** Whether {@link #settle} may write the report's output: it says how much each stream printed, in range. */
    static boolean settles(StatusReport report) {
        return report.hasStdoutTotalBytes() && report.hasStderrTotalBytes()
                && report.getStdoutTotalBytes() >= 0 && report.getStdoutTotalBytes() <= OutputWindow.MAX_OFFSET
                && report.getStderrTotalBytes() >= 0 && report.getStderrTotalBytes() <= OutputWindow.MAX_OFFSET
                && report.getStdoutTotalBytes() + report.getStderrTotalBytes() > 0;
    }

    /**
     * A final report of an agent that streams output says how much each stream printed: chunks that fall short are
     * replaced by what the report kept (see {@link OutputStore#settle}). Never fails: the result matters more.
     */
    static CompletableFuture<Void> settle(OutputStore store, StatusReport report) {
        if (!settles(report)) {
            return CompletableFuture.completedFuture(null);
        }
        CompletableFuture<Void> both;
        try {
            // A stream that printed nothing has nothing to settle: most commands print little, and their results
            // should not wait for a query.
            both = CompletableFuture.allOf(
                    report.getStdoutTotalBytes() == 0 ? CompletableFuture.completedFuture(null)
                            : store.settle(report.getTaskId(), report.getAttemptId(), StdStream.STDOUT,
                            report.getStdout().toByteArray(), report.getStdoutTotalBytes()),
                    report.getStderrTotalBytes() == 0 ? CompletableFuture.completedFuture(null)
                            : store.settle(report.getTaskId(), report.getAttemptId(), StdStream.STDERR,
                            report.getStderr().toByteArray(), report.getStderrTotalBytes()));
        } catch (RuntimeException e) {
            both = CompletableFuture.failedFuture(e);
        }
        return both.handle((v, e) -> {
            if (e != null && !(cause(e) instanceof AttemptNotCurrent)) {
                LOG.log(Level.WARNING, "could not settle the streamed output of task " + report.getTaskId(), e);
            }
            store.forget(report.getAttemptId());
            return null;
        });
    }
}
