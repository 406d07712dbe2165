package io.taskgrid.agent;

import io.grpc.CallCredentials;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ConnectivityState;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContextBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.StreamObserver;
import io.taskgrid.proto.Keepalive;
import io.taskgrid.proto.v1.AssignTaskRequest;
import io.taskgrid.proto.v1.DrainRequest;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import io.taskgrid.proto.v1.OutputAck;
import io.taskgrid.proto.v1.OutputChunk;
import io.taskgrid.proto.v1.ReportAck;
import io.taskgrid.proto.v1.RunningAttempt;
import io.taskgrid.proto.v1.StatusReport;
import io.taskgrid.proto.v1.WorkerCommand;

import javax.net.ssl.SSLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The agent's connection to the master: one long-lived AssignTask stream, opened again with capped, jittered backoff
 * whenever it ends, and the unary calls that report progress.
 *
 * <p>Keepalive pings run on the transport's own event loop, so an agent whose slots are all busy still answers them
 * and is never mistaken for a dead one; a master that vanishes without closing the connection is noticed within
 * keepalive time plus timeout.
 *
 * <p>An unreachable master is waited for as long as it takes. A master that refuses the join token (UNAUTHENTICATED,
 * on any call) before it ever accepted it ends the link at once: no retry changes its mind, and an agent that kept
 * knocking would bury the cause in a loop of log lines while its results piled up undeliverable. A master that has
 * accepted this agent before and then refuses it may be in the middle of an edit of its tokens file, or restarting
 * with it: the link keeps trying for {@link #REFUSAL_PATIENCE} before it gives up, so that a moment's refusal does not
 * end every agent that happened to call in it.
 */
final class MasterLink {

    private static final Duration REPORT_CALL_DEADLINE = Duration.ofSeconds(10);
    /** How long refusals of a token that was accepted before are taken for a passing state of the master. */
    static final Duration REFUSAL_PATIENCE = Duration.ofMinutes(5);

    private final String workerId;
    private final int slots;
    private final Map<String, String> labels;
    private final String agentVersion;
    private final String target;
    private final ManagedChannel channel;
    private final NodeServiceGrpc.NodeServiceStub asyncStub;
    private final NodeServiceGrpc.NodeServiceBlockingStub blockingStub;
    private final Backoff backoff;
    private volatile boolean stopping;
    private volatile ClientCallStreamObserver<AssignTaskRequest> currentCall;
    /** Why the current stream is being ended to connect again at once ({@link #reconnect}); null otherwise. */
    private volatile String reconnectFor;
    private final Object sleeper = new Object();
    /** Set when the channel becomes READY, so that a pause waiting for the master ends early. */
    private boolean readySincePause;
    /** Names this agent process to the master; see AssignTaskRequest.session_id. */
    private final String sessionId = UUID.randomUUID().toString();
    /** How the master refused the join token, once that ended the link; null until then. Set under sleeper. */
    private volatile Status tokenRefusal;
    /** Whether the master has registered this agent on some connection: then the token was good once. */
    private volatile boolean accepted;
    /** When the refusals of a token accepted before began (System.nanoTime), 0 while none; under sleeper. */
    private long refusedSince;
    private final Duration refusalPatience;

    /**
     * A link over {@code channel}, which it owns from now on (and shuts down in {@link #stop()}): the Netty channel of
     * {@link #connect} in the agent, an in-process one in tests.
     */
    MasterLink(ManagedChannel channel, CallCredentials credentials, String workerId, int slots,
               Map<String, String> labels, String agentVersion, Backoff backoff, String target) {
        this(channel, credentials, workerId, slots, labels, agentVersion, backoff, target, REFUSAL_PATIENCE);
    }

    MasterLink(ManagedChannel channel, CallCredentials credentials, String workerId, int slots,
               Map<String, String> labels, String agentVersion, Backoff backoff, String target,
               Duration refusalPatience) {
        this.refusalPatience = refusalPatience;
        this.channel = channel;
        this.workerId = workerId;
        this.slots = slots;
        this.labels = Map.copyOf(labels);
        this.agentVersion = agentVersion;
        this.backoff = backoff;
        this.target = target;
        ClientInterceptor refusals = new RefusalWatch();
        this.asyncStub = NodeServiceGrpc.newStub(channel).withCallCredentials(credentials).withInterceptors(refusals);
        this.blockingStub = NodeServiceGrpc.newBlockingStub(channel).withCallCredentials(credentials)
                .withInterceptors(refusals);
        watchConnectivity(ConnectivityState.IDLE);
    }

    /** The link the agent uses: a Netty channel to the master of {@code options}, with its keepalive and TLS. */
    static MasterLink connect(AgentOptions options, String agentVersion) {
        NettyChannelBuilder builder = NettyChannelBuilder.forAddress(options.masterHost(), options.masterPort());
        ManagedChannel channel = withKeepalive(transport(builder, options))
                .maxInboundMessageSize(8 * 1024 * 1024)
                // Every call is answered or retried by the agent itself (outbox, reconnect): no second layer.
                .disableRetry()
                .build();
        return new MasterLink(channel, new JoinTokenCredentials(options.joinToken(), options.plaintextAllowed()),
                options.workerId(), options.slots(), options.labels(), agentVersion,
                new Backoff(options.reconnectDelay(), options.maxReconnectDelay()),
                options.masterHost() + ":" + options.masterPort());
    }

    /**
     * The agent's side of the keepalive contract ({@link Keepalive}): a master that receives pings more often than it
     * permits drops the connection, and every agent with it. Generic over the builder so that a test can see what is
     * set without a real connection, rather than trust a copy of these lines.
     */
    static <T extends ManagedChannelBuilder<T>> T withKeepalive(T builder) {
        return builder.keepAliveTime(Keepalive.AGENT_PING_INTERVAL.toMillis(), TimeUnit.MILLISECONDS)
                .keepAliveTimeout(Keepalive.AGENT_PING_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
                .keepAliveWithoutCalls(true);
    }

    /**
     * Keeps a stream open and feeds each command to {@code onCommand} until {@link #stop()}, or until the master
     * refuses the join token. Each time it connects it tells the master which attempts still run here, from
     * {@code stillRunning}.
     *
     * @return the master's refusal of the join token, if that is what ended the link; empty once stopped
     */
    Optional<Status> run(Consumer<WorkerCommand> onCommand, Supplier<List<RunningAttempt>> stillRunning) {
        while (!stopping && tokenRefusal == null) {
            Status ended = streamOnce(onCommand, stillRunning.get());
            if (stopping || tokenRefusal != null) {
                break;
            }
            String asked = reconnectFor;
            if (asked != null) {
                reconnectFor = null;
                if (ended.getCode() == Status.Code.CANCELLED) {
                    Log.info("connecting to master " + target() + " again: " + asked);
                    continue;
                }
            }
            Duration delay = backoff.nextDelay();
            Log.warn("connection to master " + target() + " ended: " + describe(ended) + "; retrying in "
                    + delay.toMillis() + " ms");
            // The channel keeps its own, much longer, reconnect backoff; ours is the one that should count.
            channel.resetConnectBackoff();
            if (ended.getCode() == Status.Code.UNAVAILABLE) {
                // The master was away: be back the moment it is, not at the end of the backoff. Its grace period
                // for the attempts this agent holds runs from its start, and a report can only be taken from a
                // registered stream.
                channel.getState(true);
                pauseUntilReady(delay);
            } else {
                pause(delay);
            }
        }
        return stopping ? Optional.empty() : Optional.ofNullable(tokenRefusal);
    }

    /**
     * Notes the first refusal of the join token and ends the stream, so that {@link #run} returns it even when the
     * refusal came on another call (a report after the token was revoked, while the stream opened before still
     * stands).
     */
    private void refused(Status status) {
        synchronized (sleeper) {
            if (tokenRefusal != null) {
                return;
            }
            long now = System.nanoTime();
            boolean patient = accepted && (refusedSince == 0 || now - refusedSince < refusalPatience.toNanos());
            if (patient && refusedSince == 0) {
                refusedSince = now;
                Log.warn("the master at " + target + " refused the join token it accepted before ("
                        + describe(status) + "); asking again for up to " + refusalPatience.toSeconds()
                        + " s in case its tokens are being changed");
            }
            if (!patient) {
                tokenRefusal = status;
                sleeper.notifyAll();
            }
        }
        // Either way the stream ends: for good, or so that the loop asks again (with its backoff) whether the
        // master takes the token now; a stream left open would never ask.
        ClientCallStreamObserver<AssignTaskRequest> call = currentCall;
        if (call != null) {
            call.cancel("the master refused the join token", null);
        }
    }

    /** The master registered this agent: its token is good, and any run of refusals before this is over. */
    private void acceptedNow() {
        synchronized (sleeper) {
            accepted = true;
            if (refusedSince != 0) {
                refusedSince = 0;
                Log.info("the master at " + target + " accepts the join token again");
            }
        }
    }

    /** Sees every call's end, so that a refused join token is noticed on whichever call the master refuses first. */
    private final class RefusalWatch implements ClientInterceptor {
        @Override
        public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
            return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
                @Override
                public void start(Listener<R> listener, Metadata headers) {
                    super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<>(listener) {
                        @Override
                        public void onClose(Status status, Metadata trailers) {
                            if (status.getCode() == Status.Code.UNAUTHENTICATED) {
                                refused(status);
                            }
                            super.onClose(status, trailers);
                        }
                    }, headers);
                }
            };
        }
    }

    private Status streamOnce(Consumer<WorkerCommand> onCommand, List<RunningAttempt> running) {
        CountDownLatch ended = new CountDownLatch(1);
        Status[] status = {Status.OK};
        AssignTaskRequest request = AssignTaskRequest.newBuilder()
                .setWorkerId(workerId)
                .setSlots(slots)
                .putAllLabels(labels)
                .setAgentVersion(agentVersion)
                .addAllRunning(running)
                .setSessionId(sessionId)
                .build();
        List<ClientCallStreamObserver<AssignTaskRequest>> started = new ArrayList<>(1);
        asyncStub.assignTask(request, new ClientResponseObserver<AssignTaskRequest, WorkerCommand>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<AssignTaskRequest> call) {
                started.add(call);
            }

            @Override
            public void onNext(WorkerCommand command) {
                backoff.reset();
                if (command.hasRegistered()) {
                    acceptedNow();
                }
                onCommand.accept(command);
            }

            @Override
            public void onError(Throwable t) {
                status[0] = Status.fromThrowable(t);
                ended.countDown();
            }

            @Override
            public void onCompleted() {
                status[0] = Status.UNAVAILABLE.withDescription("the master closed the stream");
                ended.countDown();
            }
        });
        // Published only now that the request is sent: a call cancelled between its start and its request makes the
        // stub throw. Whoever cancels for a stop or a refusal finds it here, or set the flag this reads after it.
        currentCall = started.get(0);
        if (stopping || tokenRefusal != null) {
            started.get(0).cancel(stopping ? "agent shutting down" : "the master refused the join token", null);
        }
        try {
            ended.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stopping = true;
        }
        currentCall = null;
        return status[0];
    }

    /** What became of a report. */
    enum Delivery {
        /** The master has it. */
        DELIVERED,
        /** Not now (master unreachable, or this agent not registered yet): keep it and send it again later. */
        LATER,
        /** The master will never take it (not this worker's attempt, or malformed): keeping it would not help. */
        REFUSED
    }

    /**
     * Sends one report under this agent's worker id and session, retrying while the master is unreachable, for at most
     * {@code patience}.
     */
    Delivery report(StatusReport report, Duration patience) {
        if (tokenRefusal != null) {
            // Every call would be refused the same way; the result waits for an agent the master accepts.
            return Delivery.LATER;
        }
        StatusReport mine = report.toBuilder().setWorkerId(workerId).setSessionId(sessionId).build();
        long deadline = System.nanoTime() + patience.toNanos();
        Backoff retry = new Backoff(Duration.ofMillis(200), Duration.ofSeconds(5));
        while (true) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return Delivery.LATER;
            }
            try {
                blockingStub.withWaitForReady()
                        .withDeadlineAfter(Math.min(left, REPORT_CALL_DEADLINE.toNanos()), TimeUnit.NANOSECONDS)
                        .reportStatus(mine);
                return Delivery.DELIVERED;
            } catch (StatusRuntimeException e) {
                Status.Code code = e.getStatus().getCode();
                switch (code) {
                    case UNAVAILABLE, DEADLINE_EXCEEDED -> pause(min(retry.nextDelay(),
                            Duration.ofNanos(Math.max(0, deadline - System.nanoTime()))));
                    case PERMISSION_DENIED, INVALID_ARGUMENT -> {
                        Log.error("the master refused the " + report.getPhase() + " report of task " + report.getTaskId()
                                + " for good: " + describe(e.getStatus()));
                        return Delivery.REFUSED;
                    }
                    default -> {
                        // FAILED_PRECONDITION (not registered yet), UNAUTHENTICATED (token rotated away), ...
                        Log.warn("the master did not take the " + report.getPhase() + " report of task "
                                + report.getTaskId() + " now: " + describe(e.getStatus()));
                        return Delivery.LATER;
                    }
                }
            }
        }
    }

    private static NettyChannelBuilder transport(NettyChannelBuilder builder, AgentOptions options) {
        if (!options.tls()) {
            return builder.usePlaintext();
        }
        try {
            SslContextBuilder ssl = GrpcSslContexts.forClient();
            if (options.tlsCa() != null) {
                ssl.trustManager(options.tlsCa().toFile());
            }
            if (options.tlsCert() != null) {
                ssl.keyManager(options.tlsCert().toFile(), options.tlsKey().toFile());
            }
            return builder.sslContext(ssl.build());
        } catch (SSLException e) {
            throw new IllegalArgumentException("TLS setup failed: " + e.getMessage(), e);
        }
    }

    /**
     * Sends a report without waiting for it; if it cannot be delivered soon it is dropped. The future completes when
     * the call has ended, either way.
     */
    CompletableFuture<Void> reportAsync(StatusReport report) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        StatusReport mine = report.toBuilder().setWorkerId(workerId).setSessionId(sessionId).build();
        asyncStub.withWaitForReady()
                .withDeadlineAfter(REPORT_CALL_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                .reportStatus(mine, new StreamObserver<>() {
                    @Override
                    public void onNext(ReportAck ack) {
                    }

                    @Override
                    public void onError(Throwable t) {
                        Log.warn(report.getPhase() + " report for task " + report.getTaskId() + " not delivered: "
                                + describe(Status.fromThrowable(t)));
                        done.complete(null);
                    }

                    @Override
                    public void onCompleted() {
                        done.complete(null);
                    }
                });
        return done;
    }

    /**
     * Tells the master to send nothing more on this connection, and why ({@code reason}, shown as the worker's drain
     * reason); false if it could not be told.
     */
    boolean drain(String reason) {
        if (tokenRefusal != null) {
            return false;
        }
        try {
            blockingStub.withDeadlineAfter(3, TimeUnit.SECONDS).drain(DrainRequest.newBuilder().setWorkerId(workerId)
                    .setSessionId(sessionId).setReason(reason).build());
            return true;
        } catch (StatusRuntimeException e) {
            Log.warn("could not tell the master to stop sending tasks: " + describe(e.getStatus()));
            return false;
        }
    }

    /**
     * Ends the current stream and opens a new one at once: the master then registers this agent afresh, which ends a
     * drain this agent asked for ({@link #drain}), and is told again which attempts still run here.
     */
    void reconnect(String why) {
        reconnectFor = why;
        ClientCallStreamObserver<AssignTaskRequest> call = currentCall;
        if (call != null) {
            call.cancel(why, null);
        }
    }

    /** Ends the stream and closes the channel. */
    void stop() {
        stopping = true;
        ClientCallStreamObserver<AssignTaskRequest> call = currentCall;
        if (call != null) {
            call.cancel("agent shutting down", null);
        }
        synchronized (sleeper) {
            sleeper.notifyAll();
        }
        channel.shutdown();
        try {
            if (!channel.awaitTermination(3, TimeUnit.SECONDS)) {
                channel.shutdownNow();
            }
        } catch (InterruptedException e) {
            channel.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }

    String target() {
        return target;
    }

    String workerId() {
        return workerId;
    }

    /** Opens a StreamOutput call (see {@link OutputStreamer}); it lives until either side ends it. */
    void openOutput(ClientResponseObserver<OutputChunk, OutputAck> observer) {
        asyncStub.streamOutput(observer);
    }

    /** This agent process's session, as the master knows it. */
    String sessionId() {
        return sessionId;
    }

    private void watchConnectivity(ConnectivityState previous) {
        channel.notifyWhenStateChanged(previous, () -> {
            ConnectivityState now = channel.getState(false);
            if (now == ConnectivityState.READY) {
                Log.info("reached master " + target() + "; asking it to take worker " + workerId + " with " + slots
                        + " slot(s)");
                backoff.reset();
                synchronized (sleeper) {
                    readySincePause = true;
                    sleeper.notifyAll();
                }
            } else if (previous == ConnectivityState.READY && !stopping) {
                Log.warn("lost the connection to master " + target());
            }
            if (now != ConnectivityState.SHUTDOWN) {
                watchConnectivity(now);
            }
        });
    }

    /** Like {@link #pause}, but over as soon as the channel becomes READY meanwhile. */
    private void pauseUntilReady(Duration delay) {
        synchronized (sleeper) {
            readySincePause = false;
        }
        waitFor(delay, true);
    }

    private void pause(Duration delay) {
        waitFor(delay, false);
    }

    private void waitFor(Duration delay, boolean untilReady) {
        long until = System.nanoTime() + delay.toNanos();
        synchronized (sleeper) {
            while (!stopping && tokenRefusal == null && !(untilReady && readySincePause)) {
                long left = until - System.nanoTime();
                if (left <= 0) {
                    return;
                }
                try {
                    if (untilReady) {
                        // Try to connect every half second meanwhile, rather than after the channel's own backoff.
                        TimeUnit.NANOSECONDS.timedWait(sleeper, Math.min(left, TimeUnit.MILLISECONDS.toNanos(500)));
                        channel.resetConnectBackoff();
                    } else {
                        TimeUnit.NANOSECONDS.timedWait(sleeper, left);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }

    private static String describe(Status status) {
        String text = status.getCode().name();
        if (status.getDescription() != null) {
            text += " (" + status.getDescription() + ")";
        } else if (status.getCause() != null) {
            text += " (" + status.getCause().getMessage() + ")";
        }
        return text;
    }
}
