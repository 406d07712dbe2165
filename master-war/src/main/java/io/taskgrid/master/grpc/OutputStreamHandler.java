package io.taskgrid.master.grpc;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.taskgrid.master.dispatch.ConnectedWorker;
import io.taskgrid.master.dispatch.WorkerRegistry;
import io.taskgrid.master.output.OutputStore;
import io.taskgrid.master.output.OutputWindow;
import io.taskgrid.master.output.StdStream;
import io.taskgrid.master.task.TaskIds;
import io.taskgrid.master.text.SafeText;
import io.taskgrid.proto.v1.OutputAck;
import io.taskgrid.proto.v1.OutputChunk;
import io.taskgrid.proto.v1.OutputStream;
import io.taskgrid.proto.v1.StatusReport;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The master's end of one agent's StreamOutput call. Flow control is manual: the master asks gRPC for the next chunk
 * only once a chunk is stored and its acknowledgement could be sent, with at most {@link #WINDOW} chunks in hand, so
 * what one agent can make the master hold is bounded (WINDOW chunks of 64 KiB), however chatty its tasks are, and an
 * agent that does not read its acknowledgements stops itself.
 *
 * <p>The same rule as for reports: a chunk is believed only from the live connection (worker id and session) that holds
 * the attempt. The call is bound to the worker and session of its first chunk; a chunk naming another, or malformed in
 * any way (ids, stream, offset, size), ends the call. A chunk of an attempt the connection does not hold (ended,
 * cancelled, never its own) is answered {@code refused}, and nothing is stored.
 */
final class OutputStreamHandler implements StreamObserver<OutputChunk> {

    private static final Logger LOG = Logger.getLogger(OutputStreamHandler.class.getName());
    static final int WINDOW = 4;

    private final ServerCallStreamObserver<OutputAck> responses;
    private final WorkerRegistry registry;
    private final OutputStore store;
    /** Guards every use of {@code responses}: acks are sent from the writer's thread too. */
    private final Object lock = new Object();
    private String workerId;
    private String sessionId;
    private int owedRequests;
    private boolean ended;

    private OutputStreamHandler(ServerCallStreamObserver<OutputAck> responses, WorkerRegistry registry,
                                OutputStore store) {
        this.responses = responses;
        this.registry = registry;
        this.store = store;
    }

    static StreamObserver<OutputChunk> open(StreamObserver<OutputAck> observer, WorkerRegistry registry,
                                            OutputStore store) {
        ServerCallStreamObserver<OutputAck> responses = (ServerCallStreamObserver<OutputAck>) observer;
        responses.disableAutoRequest();
        OutputStreamHandler handler = new OutputStreamHandler(responses, registry, store);
        responses.setOnReadyHandler(handler::ready);
        responses.setOnCancelHandler(handler::cancelled);
        responses.request(WINDOW);
        return handler;
    }

    @Override
    public void onNext(OutputChunk chunk) {
        Optional<String> invalid = invalid(chunk);
        if (invalid.isPresent()) {
            end(Status.INVALID_ARGUMENT.withDescription(invalid.get()));
            return;
        }
        if (workerId == null) {
            workerId = chunk.getWorkerId();
            sessionId = chunk.getSessionId();
        } else if (!workerId.equals(chunk.getWorkerId()) || !sessionId.equals(chunk.getSessionId())) {
            end(Status.INVALID_ARGUMENT.withDescription("every chunk of a call must name the same worker and session"));
            return;
        }
        Optional<ConnectedWorker> sender = registry.get(workerId).filter(w -> w.isSession(sessionId));
        if (sender.isEmpty()) {
            end(Status.FAILED_PRECONDITION.withDescription("no open connection of worker '" + SafeText.echo(workerId)
                    + "' with this session: register (AssignTask) first, then stream output"));
            return;
        }
        if (!sender.get().holds(chunk.getTaskId(), chunk.getAttemptId())) {
            ack(chunk, 0, true);
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
        }
        stored.whenComplete((end, failure) -> {
            if (failure != null) {
                // Kept out of the live stream from now on; the final report still carries the output.
                LOG.log(Level.WARNING, "could not store output of task " + chunk.getTaskId() + "; the agent sends the "
                        + "rest with its result only", failure);
                ack(chunk, 0, true);
            } else {
                ack(chunk, end, false);
            }
            grant();
        });
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

    /** The next chunk may come: asked for now if the agent reads its acknowledgements, else once it does. */
    private void grant() {
        synchronized (lock) {
            if (ended) {
                return;
            }
            if (responses.isReady()) {
                responses.request(1);
            } else {
                owedRequests++;
            }
        }
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
        synchronized (lock) {
            ended = true;
        }
    }

    private void end(Status status) {
        synchronized (lock) {
            if (!ended) {
                ended = true;
                responses.onError(status.asRuntimeException());
            }
        }
    }

    @Override
    public void onError(Throwable t) {
        synchronized (lock) {
            ended = true;
        }
    }

    @Override
    public void onCompleted() {
        synchronized (lock) {
            if (!ended) {
                ended = true;
                responses.onCompleted();
            }
        }
    }

    /**
     * A final report of an agent that streams output says how much each stream printed: chunks that fall short are
     * replaced by what the report kept (see {@link OutputStore#settle}). Never fails: the result matters more.
     */
    static CompletableFuture<Void> settle(OutputStore store, StatusReport report) {
        if (!report.hasStdoutTotalBytes() || !report.hasStderrTotalBytes()
                || report.getStdoutTotalBytes() < 0 || report.getStdoutTotalBytes() > OutputWindow.MAX_OFFSET
                || report.getStderrTotalBytes() < 0 || report.getStderrTotalBytes() > OutputWindow.MAX_OFFSET) {
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
            if (e != null) {
                LOG.log(Level.WARNING, "could not settle the streamed output of task " + report.getTaskId(), e);
            }
            store.forget(report.getAttemptId());
            return null;
        });
    }
}
