package io.taskgrid.agent;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.taskgrid.proto.v1.OutputAck;
import io.taskgrid.proto.v1.OutputChunk;
import io.taskgrid.proto.v1.OutputStream;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Sends the output of running attempts to the master while they run, on one StreamOutput call per connection, opened
 * only once some attempt goes live (its output outgrew {@link io.taskgrid.proto.Protocol#INLINE_OUTPUT_BYTES}, or it
 * kept running past {@link io.taskgrid.proto.Protocol#STARTED_REPORT_DELAY_MILLIS}): a short task with little output
 * costs no call, chunk or acknowledgement, its FINISHED report carries all of it.
 *
 * <p>Bounded batching: a stream sends at most one chunk per {@link #BATCH} unless {@link #MAX_CHUNK} bytes wait, so a
 * task printing a line at a time costs a message per tenth of a second, not one per line; the first bytes after a
 * quiet {@link #BATCH} go out at once, so a line printed now and then reaches the master without waiting. Flow
 * control: chunks go out only while the call is ready (the transport has room, and the master, which reads a chunk
 * only once it has room to store it, keeps up); when it is not, bytes stay in the attempt's capture, whose size the
 * output cap bounds, so a chatty task or an absent master costs the agent a bounded amount of memory and the master
 * nothing. Acknowledged bytes are never sent again; after a reconnect the rest is sent from the acknowledged offset.
 *
 * <p>A master of an earlier release (UNIMPLEMENTED) gets no live output: the final report carries it, as before.
 */
final class OutputStreamer {

    static final int MAX_CHUNK = 64 * 1024;
    static final Duration BATCH = Duration.ofMillis(100);
    /** After a call failed while the link stayed up, a new one is tried this much later. */
    static final Duration REOPEN_DELAY = Duration.ofSeconds(2);
    private static final List<OutputStream> STREAMS = List.of(OutputStream.STDOUT, OutputStream.STDERR);

    private final MasterLink link;
    private final Map<String, AttemptOutput> attempts = new ConcurrentHashMap<>();
    private final Object lock = new Object();
    /** The current call; null between connections. Guarded by lock. */
    private ClientCallStreamObserver<OutputChunk> call;
    /** The master does not know StreamOutput. Guarded by lock. */
    private boolean unsupported;
    private boolean stopped;
    /** System.nanoTime() at which to open a new call after a failed one; 0: none planned. Guarded by lock. */
    private long reopenAt;
    /** Whether a registered stream exists, on whose connection a call may be opened. Guarded by lock. */
    private boolean connected;
    private final Thread sender;

    OutputStreamer(MasterLink link) {
        this.link = link;
        this.sender = new Thread(this::sendLoop, "output-sender");
        this.sender.setDaemon(true);
        this.sender.start();
    }

    /** Output of an attempt that went live, to be sent as it comes; opens this connection's call if none is open. */
    void add(AttemptOutput output) {
        attempts.put(output.attemptId(), output);
        synchronized (lock) {
            if (call == null && connected && reopenAt == 0) {
                reopen();
            }
            lock.notifyAll();
        }
    }

    /** Something to send, or room to send it, or an acknowledgement to look at. */
    void wake() {
        synchronized (lock) {
            lock.notifyAll();
        }
    }

    /** The link registered a new connection: output goes on a new call, resent from what the master acknowledged. */
    void connected() {
        synchronized (lock) {
            connected = true;
            if (call != null || !attempts.isEmpty()) {
                reopen();
            }
        }
    }

    /** Opens a new call in place of the current one, if any. Holds lock. */
    private void reopen() {
        reopenAt = 0;
        if (unsupported || stopped) {
            return;
        }
        if (call != null) {
            ClientCallStreamObserver<OutputChunk> old = call;
            call = null;
            old.cancel("replaced by the call of a new connection", null);
        }
        for (AttemptOutput output : attempts.values()) {
            output.stdout().rewind();
            output.stderr().rewind();
        }
        link.openOutput(new CallObserver());
        lock.notifyAll();
    }

    /**
     * The attempt has ended: sends what is left at once and waits, at most {@code patience} and only while connected,
     * for the master to acknowledge it. Either way the attempt is forgotten here; the final report carries its output.
     *
     * @return whether the master has all of it
     */
    boolean finish(AttemptOutput output, Duration patience) {
        output.ending();
        long deadline = System.nanoTime() + patience.toNanos();
        try {
            synchronized (lock) {
                lock.notifyAll();
                while (!output.settled() && call != null && !unsupported && !stopped) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        break;
                    }
                    TimeUnit.NANOSECONDS.timedWait(lock, left);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            attempts.remove(output.attemptId());
        }
        return output.settled() && !output.refused();
    }

    void stop() {
        synchronized (lock) {
            stopped = true;
            if (call != null) {
                call.cancel("agent shutting down", null);
                call = null;
            }
            lock.notifyAll();
        }
    }

    private void sendLoop() {
        while (true) {
            ClientCallStreamObserver<OutputChunk> target;
            synchronized (lock) {
                try {
                    while (true) {
                        if (stopped) {
                            return;
                        }
                        if (call == null && reopenAt != 0 && System.nanoTime() - reopenAt >= 0) {
                            if (attempts.isEmpty()) {
                                // Opened by the next attempt that goes live.
                                reopenAt = 0;
                            } else {
                                reopen();
                            }
                        }
                        long wait = call == null || !call.isReady() ? Long.MAX_VALUE : nanosUntilDue();
                        if (call == null && reopenAt != 0) {
                            wait = Math.max(1, reopenAt - System.nanoTime());
                        }
                        if (wait <= 0) {
                            break;
                        }
                        if (wait == Long.MAX_VALUE) {
                            lock.wait();
                        } else {
                            TimeUnit.NANOSECONDS.timedWait(lock, wait);
                        }
                    }
                } catch (InterruptedException e) {
                    return;
                }
                target = call;
            }
            sendAll(target);
        }
    }

    /** How long until some stream's bytes are due; 0 if some are due now, Long.MAX_VALUE if none are waiting. */
    private long nanosUntilDue() {
        long now = System.nanoTime();
        long soonest = Long.MAX_VALUE;
        for (AttemptOutput output : attempts.values()) {
            if (output.refused()) {
                continue;
            }
            for (OutputStream stream : STREAMS) {
                StreamCapture capture = output.stream(stream);
                long due = output.isEnding() && capture.unsent() > 0 ? 0 : capture.nanosUntilDue(now, BATCH.toNanos());
                soonest = Math.min(soonest, due);
            }
        }
        return soonest;
    }

    /** Sends every waiting byte while the call is ready; a stream that is due takes the rest along. */
    private void sendAll(ClientCallStreamObserver<OutputChunk> target) {
        for (AttemptOutput output : attempts.values()) {
            if (output.refused()) {
                continue;
            }
            for (OutputStream stream : STREAMS) {
                StreamCapture capture = output.stream(stream);
                while (target.isReady()) {
                    StreamCapture.Chunk chunk = capture.next(MAX_CHUNK);
                    if (chunk == null) {
                        break;
                    }
                    try {
                        target.onNext(OutputChunk.newBuilder()
                                .setWorkerId(link.workerId())
                                .setSessionId(link.sessionId())
                                .setTaskId(output.taskId())
                                .setAttemptId(output.attemptId())
                                .setStream(stream)
                                .setOffset(chunk.offset())
                                .setData(ByteString.copyFrom(chunk.data()))
                                .build());
                    } catch (RuntimeException e) {
                        broken(target);
                        return;
                    }
                }
                if (!target.isReady()) {
                    return;
                }
            }
        }
    }

    private void broken(ClientCallStreamObserver<OutputChunk> target) {
        synchronized (lock) {
            if (call == target) {
                call = null;
            }
            lock.notifyAll();
        }
    }

    /** One call's answers: acknowledgements, refusals, its end. */
    private final class CallObserver implements ClientResponseObserver<OutputChunk, OutputAck> {
        private ClientCallStreamObserver<OutputChunk> requests;

        @Override
        public void beforeStart(ClientCallStreamObserver<OutputChunk> requestStream) {
            requests = requestStream;
            requestStream.setOnReadyHandler(OutputStreamer.this::wake);
            synchronized (lock) {
                call = requestStream;
            }
        }

        @Override
        public void onNext(OutputAck ack) {
            AttemptOutput output = attempts.get(ack.getAttemptId());
            if (output != null) {
                StreamCapture capture = output.stream(ack.getStream());
                if (ack.getRefused()) {
                    output.refuse();
                } else if (capture != null) {
                    capture.acked(ack.getStoredTo());
                }
            }
            wake();
        }

        @Override
        public void onError(Throwable t) {
            Status status = Status.fromThrowable(t);
            synchronized (lock) {
                if (call == requests) {
                    call = null;
                }
                if (status.getCode() == Status.Code.UNIMPLEMENTED && !unsupported) {
                    unsupported = true;
                    Log.info("the master takes no live output (an earlier release): output goes with each result only");
                } else if (status.getCode() != Status.Code.CANCELLED && call == null && !stopped) {
                    reopenAt = System.nanoTime() + REOPEN_DELAY.toNanos();
                }
                lock.notifyAll();
            }
            if (status.getCode() != Status.Code.CANCELLED && status.getCode() != Status.Code.UNIMPLEMENTED
                    && status.getCode() != Status.Code.UNAVAILABLE
                    && status.getCode() != Status.Code.FAILED_PRECONDITION) {
                Log.warn("the live output call ended: " + status.getCode()
                        + (status.getDescription() == null ? "" : " (" + status.getDescription() + ")")
                        + "; output is sent again after the next registration");
            }
        }

        @Override
        public void onCompleted() {
            synchronized (lock) {
                if (call == requests) {
                    call = null;
                }
                lock.notifyAll();
            }
        }
    }
}
