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
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContextBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.taskgrid.proto.Keepalive;
import io.taskgrid.proto.Protocol;
import io.taskgrid.proto.v1.AgentMessage;
import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.CancelAttempt;
import io.taskgrid.proto.v1.DrainRequest;
import io.taskgrid.proto.v1.Hello;
import io.taskgrid.proto.v1.MasterMessage;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import io.taskgrid.proto.v1.OutputAck;
import io.taskgrid.proto.v1.OutputChunk;
import io.taskgrid.proto.v1.Phase;
import io.taskgrid.proto.v1.ProtocolVersion;
import io.taskgrid.proto.v1.Registered;
import io.taskgrid.proto.v1.ReportAck;
import io.taskgrid.proto.v1.Reports;
import io.taskgrid.proto.v1.RunningAttempt;
import io.taskgrid.proto.v1.StatusReport;

import javax.net.ssl.SSLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Queue;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * The agent's connection to the master: one long-lived Connect stream (protocol 2), opened again with capped, jittered
 * backoff whenever it ends. Everything the agent says (Hello, reports, drains) and everything the master says
 * (registration, assignments, cancels, acknowledgements) travels on it.
 *
 * <p>Reports are written by whichever thread has one ready, without a hand-off to a sender thread: a thread that finds
 * another one writing leaves its report in the queue, and the writer takes it along in its next Reports message. So a
 * report costs no thread switch when the link is idle, and reports that become ready together share one message when it
 * is busy. gRPC's stream observer takes one writer at a time: every write holds the connection's lock.
 *
 * <p>Each report carries a seq unique on its stream; the link keeps it until the master's acknowledgement names that
 * seq, and hands the verdict to the agent. A stream that ends forgets what it had not seen acknowledged: the agent's
 * outbox holds every result, and sends it again once the next stream is registered.
 *
 * <p>Keepalive pings run on the transport's own event loop, so an agent whose slots are all busy still answers them
 * and is never mistaken for a dead one; a master that vanishes without closing the connection is noticed within
 * keepalive time plus timeout.
 *
 * <p>The link may know several masters (an active/standby pair: only the active one serves, a standby does not even
 * listen). It talks to one at a time, over a channel of that address's own (so that TLS checks each master's own host
 * name), and stays with it while it keeps the stream up. When a stream ends UNAVAILABLE (the master refused the
 * connection, reset it, lost its lease, vanished) or cannot be opened, the next address in the list is tried at once,
 * round robin; only after each address has been tried in turn without one taking the agent does the backoff apply, so a
 * dead first master costs no wait before a live second one, and masters that are all away are not knocked at in a
 * loop. While it waits, whichever master becomes reachable first ends the wait and is tried next.
 *
 * <p>An unreachable master is waited for as long as it takes. A master that refuses the join token (UNAUTHENTICATED,
 * on any call) before it ever accepted it ends the link at once: no retry changes its mind, and an agent that kept
 * knocking would bury the cause in a loop of log lines while its results piled up undeliverable. A master that has
 * accepted this agent before and then refuses it may be in the middle of an edit of its tokens file, or restarting
 * with it: the link keeps trying for {@link #REFUSAL_PATIENCE} before it gives up, so that a moment's refusal does not
 * end every agent that happened to call in it. A master that speaks another protocol (FAILED_PRECONDITION on Connect,
 * or UNIMPLEMENTED from a release before Connect) ends the link at once as well: only an upgrade changes that.
 */
final class MasterLink {

    /** How long refusals of a token that was accepted before are taken for a passing state of the master. */
    static final Duration REFUSAL_PATIENCE = Duration.ofMinutes(5);

    /** What the link tells the agent, on the stream's thread: none of these may block it. */
    interface Listener {
        /** A new stream is registered: reports are taken from now on. */
        void registered(Registered registered);

        void assignments(List<Assignment> assignments);

        void cancel(CancelAttempt cancel);

        /** The master asks for these attempts back if they have not started: another worker is idle. */
        void giveBack(List<String> attemptIds);

        /** The master's answer to {@code report} (as sent, with its seq). */
        void acknowledged(StatusReport report, ReportAck ack);
    }

    /** Why the link ended for good, rather than because the agent stopped it. */
    record Refusal(Kind kind, Status status) {
        enum Kind {
            /** The master refused the join token (and, if it accepted it before, kept refusing it). */
            JOIN_TOKEN,
            /** The master speaks another protocol. */
            PROTOCOL
        }
    }

    /** One master address the link may connect to: its name (for the logs) and how to build its channel. */
    record Target(String name, Supplier<ManagedChannel> channel) {
    }

    private final String workerId;
    private final int slots;
    private final int prefetch;
    private final Map<String, String> labels;
    private final String agentVersion;
    private final CallCredentials credentials;
    /** The masters, in the order they are tried. */
    private final List<Endpoint> endpoints;
    /** Index in endpoints of the master this link talks to, or tries next. Written by the thread of run only. */
    private volatile int at;
    private final Backoff backoff;
    private volatile boolean stopping;
    /** The current stream; null between streams. */
    private volatile Connection current;
    /** Why the current stream is being ended to connect again at once ({@link #reconnect}); null otherwise. */
    private volatile String reconnectFor;
    private final Object sleeper = new Object();
    /** The first master whose channel became READY since a pause began, which ends it early; under sleeper. */
    private Endpoint readySincePause;
    /** Names this agent process to the master; see Hello.session_id. */
    private final String sessionId = UUID.randomUUID().toString();
    /** How the master refused the join token, once that ended the link; null until then. Set under sleeper. */
    private volatile Status tokenRefusal;
    /** How the master refused this agent's protocol, once that ended the link; null until then. */
    private volatile Status protocolRefusal;
    /** Whether the master has registered this agent on some connection: then the token was good once. */
    private volatile boolean accepted;
    /** When the refusals of a token accepted before began (System.nanoTime), 0 while none; under sleeper. */
    private long refusedSince;
    private final Duration refusalPatience;
    /** Seqs of reports, unique for this process and so on every stream. */
    private final AtomicLong seqs = new AtomicLong();

    /**
     * A link over {@code channel}, which it owns from now on (and shuts down in {@link #stop()}): an in-process one in
     * tests, the one master named {@code target}.
     */
    MasterLink(ManagedChannel channel, CallCredentials credentials, String workerId, int slots, int prefetch,
               Map<String, String> labels, String agentVersion, Backoff backoff, String target,
               Duration refusalPatience) {
        this(List.of(new Target(target, () -> channel)), credentials, workerId, slots, prefetch, labels, agentVersion,
                backoff, refusalPatience);
        // Built now, so that stop() shuts it down even if the link never ran.
        endpoints.get(0).stub();
    }

    /**
     * A link to the masters of {@code targets}, tried in this order; each channel is built at its first use, and the
     * link owns it from then on (and shuts it down in {@link #stop()}).
     */
    MasterLink(List<Target> targets, CallCredentials credentials, String workerId, int slots, int prefetch,
               Map<String, String> labels, String agentVersion, Backoff backoff, Duration refusalPatience) {
        if (targets.isEmpty()) {
            throw new IllegalArgumentException("no master to connect to");
        }
        this.refusalPatience = refusalPatience;
        this.credentials = credentials;
        this.workerId = workerId;
        this.slots = slots;
        this.prefetch = prefetch;
        this.labels = Map.copyOf(labels);
        this.agentVersion = agentVersion;
        this.backoff = backoff;
        List<Endpoint> all = new ArrayList<>();
        for (Target target : targets) {
            all.add(new Endpoint(all.size(), target));
        }
        this.endpoints = List.copyOf(all);
    }

    /**
     * The link the agent uses: a Netty channel to each master of {@code options} (built when first tried), with its
     * keepalive and TLS; TLS checks each master's certificate against that master's own host name.
     */
    static MasterLink connect(AgentOptions options, String agentVersion) {
        // Set up now, not at the first connection: a --tls-* file that is no certificate or key is a usage error.
        SslContext ssl = options.tls() ? sslContext(options) : null;
        List<Target> targets = options.masters().stream()
                .map(address -> new Target(address.authority(), () -> nettyChannel(address, ssl)))
                .toList();
        return new MasterLink(targets, new JoinTokenCredentials(options.joinToken(), options.plaintextAllowed()),
                options.workerId(), options.slots(), options.prefetch(), options.labels(), agentVersion,
                new Backoff(options.reconnectDelay(), options.maxReconnectDelay()), REFUSAL_PATIENCE);
    }

    /** The channel to one master; {@code ssl} null for plaintext. */
    private static ManagedChannel nettyChannel(AgentOptions.HostPortValue address, SslContext ssl) {
        // One name that resolves to several addresses gets gRPC's pick_first over them, as before.
        NettyChannelBuilder builder = NettyChannelBuilder.forAddress(address.host(), address.port());
        return withKeepalive(ssl == null ? builder.usePlaintext() : builder.sslContext(ssl))
                .maxInboundMessageSize(8 * 1024 * 1024)
                // Every call is answered or retried by the agent itself (outbox, reconnect): no second layer.
                .disableRetry()
                .build();
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
     * Keeps a stream open and feeds what the master says to {@code listener} until {@link #stop()}, or until the
     * master refuses the join token or the protocol. Each Hello names the attempts the agent still holds, from
     * {@code held}.
     *
     * @return the master's refusal, if that is what ended the link; empty once stopped
     */
    Optional<Refusal> run(Listener listener, Supplier<List<RunningAttempt>> held) {
        int count = endpoints.size();
        // Masters tried one after the other, since one last took this agent or since the last pause, none of which
        // took it: once that is all of them, the backoff applies.
        int failed = 0;
        Endpoint announced = null;
        while (!stopping && refusal().isEmpty()) {
            Endpoint endpoint = endpoints.get(at);
            if (count > 1 && endpoint != announced) {
                Log.info("connecting to master " + endpoint.name + " (" + (endpoint.index + 1) + " of " + count + ")");
                announced = endpoint;
            }
            Ended ended = streamOnce(endpoint, listener, held.get());
            if (stopping || refusal().isPresent()) {
                break;
            }
            Status status = ended.status();
            String asked = reconnectFor;
            if (asked != null) {
                reconnectFor = null;
                if (status.getCode() == Status.Code.CANCELLED) {
                    Log.info("connecting to master " + endpoint.name + " again: " + asked);
                    continue;
                }
            }
            failed = ended.registered() ? 1 : failed + 1;
            if (count > 1 && status.getCode() == Status.Code.UNAVAILABLE) {
                // This master is away (or no longer the active one): the next one may well be there.
                at = (endpoint.index + 1) % count;
                if (failed < count) {
                    Log.warn("connection to master " + endpoint.name + " ended: " + describe(status)
                            + "; trying the next master");
                    continue;
                }
            }
            failed = 0;
            Duration delay = backoff.nextDelay();
            Log.warn("connection to master " + endpoint.name + " ended: " + describe(status)
                    + (count > 1 && status.getCode() == Status.Code.UNAVAILABLE
                    ? "; none of the " + count + " masters took this agent" : "")
                    + "; retrying in " + delay.toMillis() + " ms");
            // The channels keep their own, much longer, reconnect backoff; ours is the one that should count.
            channels().forEach(ManagedChannel::resetConnectBackoff);
            if (status.getCode() == Status.Code.UNAVAILABLE) {
                // The master was away: be back the moment one is, not at the end of the backoff. Its grace period
                // for the attempts this agent holds runs from its start, and a report can only be taken from a
                // registered stream.
                Endpoint ready = pauseUntilReady(delay);
                if (ready != null) {
                    at = ready.index;
                }
            } else {
                pause(delay);
            }
        }
        return stopping ? Optional.empty() : refusal();
    }

    private Optional<Refusal> refusal() {
        Status protocol = protocolRefusal;
        if (protocol != null) {
            return Optional.of(new Refusal(Refusal.Kind.PROTOCOL, protocol));
        }
        Status token = tokenRefusal;
        return token == null ? Optional.empty() : Optional.of(new Refusal(Refusal.Kind.JOIN_TOKEN, token));
    }

    /**
     * Notes the first refusal of the join token and ends the stream, so that {@link #run} returns it even when the
     * refusal came on another call (the output call after the token was revoked, while the stream opened before still
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
                Log.warn("the master at " + target() + " refused the join token it accepted before ("
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
        Connection connection = current;
        if (connection != null) {
            connection.call.cancel("the master refused the join token", null);
        }
    }

    /** The master registered this agent: its token is good, and any run of refusals before this is over. */
    private void acceptedNow() {
        synchronized (sleeper) {
            accepted = true;
            if (refusedSince != 0) {
                refusedSince = 0;
                Log.info("the master at " + target() + " accepts the join token again");
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

    /**
     * One Connect stream and what only it knows: whether the master registered it, the reports it sent that wait for
     * their acknowledgement, the drains that wait for theirs.
     */
    private final class Connection {
        ClientCallStreamObserver<AgentMessage> call;
        volatile boolean registered;
        volatile boolean closed;
        /** Reports sent on this stream, by seq, until acknowledged. */
        final Map<Long, StatusReport> unacknowledged = new ConcurrentHashMap<>();
        /** Attempt ids of FINISHED reports among them: the outbox does not send these again meanwhile. */
        final Set<String> finishedInFlight = ConcurrentHashMap.newKeySet();
        /** Reports ready to go, taken by whichever thread writes next. */
        final Queue<StatusReport> ready = new ConcurrentLinkedQueue<>();
        final AtomicBoolean writing = new AtomicBoolean();
        /** Drains asked for, answered in order. */
        final Queue<CompletableFuture<Boolean>> drains = new ConcurrentLinkedQueue<>();

        /** Writes one message, unless the stream is over; false then. */
        boolean write(AgentMessage message) {
            synchronized (this) {
                if (closed) {
                    return false;
                }
                try {
                    call.onNext(message);
                    return true;
                } catch (RuntimeException e) {
                    // The call was cancelled under us: its end arrives through the observer.
                    return false;
                }
            }
        }

        /** Sends what is ready, in messages of at most Protocol.MAX_REPORTS_PER_MESSAGE, unless another thread is. */
        void flush() {
            while (!ready.isEmpty() && writing.compareAndSet(false, true)) {
                try {
                    StatusReport carried = null;
                    while (true) {
                        Reports.Builder batch = null;
                        StatusReport next;
                        int n = 0;
                        long bytes = 0;
                        // A report with much output goes on its own: a message must stay within what the master reads.
                        while (n < Protocol.MAX_REPORTS_PER_MESSAGE
                                && (next = carried != null ? carried : ready.poll()) != null) {
                            carried = null;
                            int size = next.getSerializedSize();
                            if (batch != null && bytes + size > Protocol.REPORTS_BYTES_PER_MESSAGE) {
                                carried = next;
                                break;
                            }
                            if (batch == null) {
                                batch = Reports.newBuilder();
                            }
                            batch.addReports(next);
                            bytes += size;
                            n++;
                        }
                        if (batch == null) {
                            break;
                        }
                        write(AgentMessage.newBuilder().setReports(batch).build());
                    }
                } finally {
                    writing.set(false);
                }
                // A report queued after the last poll and before writing was released is taken by the loop again.
            }
        }

        void close() {
            synchronized (this) {
                closed = true;
            }
            ready.clear();
            unacknowledged.clear();
            finishedInFlight.clear();
            CompletableFuture<Boolean> drain;
            while ((drain = drains.poll()) != null) {
                drain.complete(false);
            }
        }

        void acknowledged(Listener listener, List<ReportAck> acks) {
            for (ReportAck ack : acks) {
                StatusReport report = unacknowledged.remove(ack.getSeq());
                if (report == null) {
                    Log.warn("the master acknowledged report " + ack.getSeq() + ", which this stream did not send or "
                            + "had acknowledged already: ignored");
                    continue;
                }
                try {
                    listener.acknowledged(report, ack);
                } finally {
                    // Only now: until the outbox has dropped it, a retry must not send it again.
                    if (report.getPhase() == Phase.FINISHED) {
                        finishedInFlight.remove(report.getAttemptId());
                    }
                }
            }
        }
    }

    /** How a stream ended, and whether the master had registered this agent on it. */
    private record Ended(Status status, boolean registered) {
    }

    private Ended streamOnce(Endpoint endpoint, Listener listener, List<RunningAttempt> held) {
        CountDownLatch ended = new CountDownLatch(1);
        Status[] status = {Status.OK};
        Connection connection = new Connection();
        if (held.size() > Protocol.MAX_HELD) {
            Log.warn("this agent holds " + held.size() + " attempts; the Hello names the first " + Protocol.MAX_HELD
                    + " (the protocol's limit)");
            held = held.subList(0, Protocol.MAX_HELD);
        }
        Hello hello = Hello.newBuilder()
                .setProtocol(ProtocolVersion.PROTOCOL_VERSION_2)
                .setWorkerId(workerId)
                .setSlots(slots)
                .setPrefetch(prefetch)
                .setAgentVersion(agentVersion)
                .setSessionId(sessionId)
                .putAllLabels(labels)
                .addAllHeld(held)
                .build();
        endpoint.stub().connect(new ClientResponseObserver<AgentMessage, MasterMessage>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<AgentMessage> call) {
                connection.call = call;
            }

            @Override
            public void onNext(MasterMessage message) {
                backoff.reset();
                onMessage(connection, listener, message);
            }

            @Override
            public void onError(Throwable t) {
                connection.close();
                Status why = Status.fromThrowable(t);
                if (why.getCode() == Status.Code.FAILED_PRECONDITION || why.getCode() == Status.Code.UNIMPLEMENTED) {
                    protocolRefusal = why;
                }
                status[0] = why;
                ended.countDown();
            }

            @Override
            public void onCompleted() {
                connection.close();
                status[0] = Status.UNAVAILABLE.withDescription("the master closed the stream");
                ended.countDown();
            }
        });
        current = connection;
        if (stopping || refusal().isPresent()) {
            connection.call.cancel(stopping ? "agent shutting down" : "the master refused this agent", null);
        } else {
            connection.write(AgentMessage.newBuilder().setHello(hello).build());
        }
        try {
            ended.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stopping = true;
        }
        current = null;
        return new Ended(status[0], connection.registered);
    }

    private void onMessage(Connection connection, Listener listener, MasterMessage message) {
        if (message.getKindCase() != MasterMessage.KindCase.REGISTERED && !connection.registered) {
            Log.warn("the master sent " + message.getKindCase() + " before registering this agent: ignored");
            return;
        }
        switch (message.getKindCase()) {
            case REGISTERED -> {
                if (connection.registered) {
                    Log.warn("the master registered this agent twice on one stream: the second is ignored");
                    return;
                }
                acceptedNow();
                connection.registered = true;
                listener.registered(message.getRegistered());
            }
            case ASSIGNMENTS -> listener.assignments(message.getAssignments().getAssignmentsList());
            case CANCEL -> listener.cancel(message.getCancel());
            case GIVE_BACK -> listener.giveBack(message.getGiveBack().getAttemptIdsList());
            case ACKS -> connection.acknowledged(listener, message.getAcks().getAcksList());
            case DRAINED -> {
                CompletableFuture<Boolean> drain = connection.drains.poll();
                if (drain == null) {
                    Log.warn("the master answered a drain this agent did not ask for: ignored");
                } else {
                    drain.complete(true);
                }
            }
            default -> Log.warn("ignoring a message this agent does not know: " + message.getKindCase());
        }
    }

    /**
     * Sends a report on the current stream, if it is registered; the master's verdict comes to the listener. Returns
     * at once; the report goes out with any others that are ready (see the class comment).
     *
     * @return false when no registered stream takes it now (a FINISHED report is then sent from the outbox later)
     */
    boolean send(StatusReport report) {
        return send(List.of(report));
    }

    /** Like {@link #send(StatusReport)}, for several reports that go out together. */
    boolean send(List<StatusReport> reports) {
        Connection connection = current;
        if (connection == null || !connection.registered || connection.closed) {
            return false;
        }
        for (StatusReport report : reports) {
            StatusReport numbered = report.toBuilder().setWorkerId(workerId).setSessionId(sessionId)
                    .setSeq(seqs.incrementAndGet()).build();
            connection.unacknowledged.put(numbered.getSeq(), numbered);
            if (numbered.getPhase() == Phase.FINISHED) {
                connection.finishedInFlight.add(numbered.getAttemptId());
            }
            connection.ready.add(numbered);
        }
        connection.flush();
        return true;
    }

    /** Whether a FINISHED report of this attempt was sent on the current stream and is not answered yet. */
    boolean inFlight(String attemptId) {
        Connection connection = current;
        return connection != null && connection.finishedInFlight.contains(attemptId);
    }

    /** How many reports the current stream has sent without an answer yet. */
    int unacknowledged() {
        Connection connection = current;
        return connection == null ? 0 : connection.unacknowledged.size();
    }

    /** Whether a stream is open and registered. */
    boolean registered() {
        Connection connection = current;
        return connection != null && connection.registered && !connection.closed;
    }

    /**
     * Tells the master to send nothing more on this stream, and why ({@code reason}, shown as the worker's drain
     * reason), and waits at most {@code patience} for its answer.
     *
     * @return whether the master answered in time
     */
    boolean drain(String reason, Duration patience) {
        Connection connection = current;
        if (connection == null || !connection.registered || refusal().isPresent()) {
            Log.warn("could not tell the master to stop sending tasks: not connected");
            return false;
        }
        CompletableFuture<Boolean> answered = new CompletableFuture<>();
        synchronized (connection) {
            // Queued and written under one lock, so that the answers come in the order of the queue.
            connection.drains.add(answered);
            if (!connection.write(AgentMessage.newBuilder().setDrain(DrainRequest.newBuilder().setReason(reason))
                    .build())) {
                answered.complete(false);
            }
        }
        try {
            if (answered.get(patience.toMillis(), TimeUnit.MILLISECONDS)) {
                return true;
            }
        } catch (TimeoutException | ExecutionException e) {
            // below
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Log.warn("the master did not answer this agent's drain within " + patience.toMillis() + " ms");
        return false;
    }

    /** The TLS client context of {@code options}, one for all masters (each channel checks its own host name). */
    private static SslContext sslContext(AgentOptions options) {
        try {
            SslContextBuilder ssl = GrpcSslContexts.forClient();
            if (options.tlsCa() != null) {
                ssl.trustManager(options.tlsCa().toFile());
            }
            if (options.tlsCert() != null) {
                ssl.keyManager(options.tlsCert().toFile(), options.tlsKey().toFile());
            }
            return ssl.build();
        } catch (SSLException e) {
            throw new IllegalArgumentException("TLS setup failed: " + e.getMessage(), e);
        }
    }

    /**
     * Ends the current stream and opens a new one at once: the master then registers this agent afresh, which ends a
     * drain this agent asked for ({@link #drain}), and is told again which attempts it holds.
     */
    void reconnect(String why) {
        reconnectFor = why;
        Connection connection = current;
        if (connection != null) {
            connection.call.cancel(why, null);
        }
    }

    /** Ends the stream and closes the channels. */
    void stop() {
        stopping = true;
        Connection connection = current;
        if (connection != null) {
            connection.call.cancel("agent shutting down", null);
        }
        synchronized (sleeper) {
            sleeper.notifyAll();
        }
        List<ManagedChannel> channels = new ArrayList<>();
        for (Endpoint endpoint : endpoints) {
            ManagedChannel channel = endpoint.close();
            if (channel != null) {
                channels.add(channel);
            }
        }
        channels.forEach(ManagedChannel::shutdown);
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
        try {
            for (ManagedChannel channel : channels) {
                if (!channel.awaitTermination(Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                    channel.shutdownNow();
                }
            }
        } catch (InterruptedException e) {
            channels.forEach(ManagedChannel::shutdownNow);
            Thread.currentThread().interrupt();
        }
    }

    /** The master this link talks to, or tries next. */
    String target() {
        return endpoints.get(at).name;
    }

    /** Every master this link may talk to, in the order they are tried. */
    String targets() {
        return String.join(", ", endpoints.stream().map(endpoint -> endpoint.name).toList());
    }

    String workerId() {
        return workerId;
    }

    /** Opens a StreamOutput call (see {@link OutputStreamer}); it lives until either side ends it. */
    void openOutput(ClientResponseObserver<OutputChunk, OutputAck> observer) {
        endpoints.get(at).stub().streamOutput(observer);
    }

    /** This agent process's session, as the master knows it. */
    String sessionId() {
        return sessionId;
    }

    /** The channels built so far. */
    private List<ManagedChannel> channels() {
        List<ManagedChannel> built = new ArrayList<>();
        for (Endpoint endpoint : endpoints) {
            ManagedChannel channel = endpoint.channel();
            if (channel != null) {
                built.add(channel);
            }
        }
        return built;
    }

    /** Logs the connection to the current master coming and going, and ends a pause when any master is reachable. */
    private void watchConnectivity(Endpoint endpoint, ManagedChannel channel, ConnectivityState previous) {
        channel.notifyWhenStateChanged(previous, () -> {
            ConnectivityState now = channel.getState(false);
            // Another master's channel may connect meanwhile (gRPC retries a failed connection by itself): only the
            // current master's is news in the log.
            boolean current = endpoints.get(at) == endpoint;
            if (now == ConnectivityState.READY) {
                if (current) {
                    Log.info("reached master " + endpoint.name + "; asking it to take worker " + workerId + " with "
                            + slots + " slot(s) and " + prefetch + " prefetched");
                }
                backoff.reset();
                synchronized (sleeper) {
                    if (readySincePause == null) {
                        readySincePause = endpoint;
                    }
                    sleeper.notifyAll();
                }
            } else if (previous == ConnectivityState.READY && !stopping && current) {
                Log.warn("lost the connection to master " + endpoint.name);
            }
            if (now != ConnectivityState.SHUTDOWN) {
                watchConnectivity(endpoint, channel, now);
            }
        });
    }

    /**
     * Like {@link #pause}, but over as soon as the channel of some master becomes READY meanwhile: every master's
     * channel is asked to connect.
     *
     * @return the master that became reachable first; null when the whole delay passed
     */
    private Endpoint pauseUntilReady(Duration delay) {
        synchronized (sleeper) {
            readySincePause = null;
        }
        channels().forEach(channel -> channel.getState(true));
        waitFor(delay, true);
        synchronized (sleeper) {
            return readySincePause;
        }
    }

    private void pause(Duration delay) {
        waitFor(delay, false);
    }

    private void waitFor(Duration delay, boolean untilReady) {
        long until = System.nanoTime() + delay.toNanos();
        synchronized (sleeper) {
            while (!stopping && tokenRefusal == null && !(untilReady && readySincePause != null)) {
                long left = until - System.nanoTime();
                if (left <= 0) {
                    return;
                }
                try {
                    if (untilReady) {
                        // Try to connect every half second meanwhile, rather than after the channel's own backoff.
                        TimeUnit.NANOSECONDS.timedWait(sleeper, Math.min(left, TimeUnit.MILLISECONDS.toNanos(500)));
                        channels().forEach(ManagedChannel::resetConnectBackoff);
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

    /** One master: its name, and its channel and stub once the link first tries it. */
    private final class Endpoint {
        final int index;
        final String name;
        private final Supplier<ManagedChannel> factory;
        /** Null until built; read without the lock, so that a pause (under sleeper) takes no other lock. */
        private volatile ManagedChannel channel;
        private NodeServiceGrpc.NodeServiceStub stub;
        private boolean closed;

        Endpoint(int index, Target target) {
            this.index = index;
            this.name = target.name();
            this.factory = target.channel();
        }

        /** The stub of this master's channel, built at the first call. */
        synchronized NodeServiceGrpc.NodeServiceStub stub() {
            if (stub == null) {
                channel = factory.get();
                if (closed) {
                    // Built by a call racing stop(): it fails at once, and the link ends.
                    channel.shutdownNow();
                } else {
                    watchConnectivity(this, channel, ConnectivityState.IDLE);
                }
                stub = NodeServiceGrpc.newStub(channel).withCallCredentials(credentials)
                        .withInterceptors(new RefusalWatch());
            }
            return stub;
        }

        /** The channel, if built. */
        ManagedChannel channel() {
            return channel;
        }

        /** No channel is built from now on without being shut down at once; returns the one built, if any. */
        synchronized ManagedChannel close() {
            closed = true;
            return channel;
        }
    }

    static String describe(Status status) {
        String text = status.getCode().name();
        if (status.getDescription() != null) {
            text += " (" + status.getDescription() + ")";
        } else if (status.getCause() != null) {
            text += " (" + status.getCause().getMessage() + ")";
        }
        return text;
    }
}
