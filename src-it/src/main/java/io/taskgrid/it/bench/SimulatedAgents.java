package io.taskgrid.it.bench;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.MultiThreadIoEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.nio.NioIoHandler;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioSocketChannel;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import io.taskgrid.proto.Protocol;
import io.taskgrid.proto.v1.AgentMessage;
import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.Hello;
import io.taskgrid.proto.v1.MasterMessage;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.Phase;
import io.taskgrid.proto.v1.ProtocolVersion;
import io.taskgrid.proto.v1.ReportAck;
import io.taskgrid.proto.v1.Reports;
import io.taskgrid.proto.v1.StatusReport;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Many agents in one JVM, at the protocol level only: each opens its own connection and Connect stream, says Hello
 * (one slot, prefetch one) and answers every assignment at once with a FINISHED report (exited 0, ran 0 µs), running
 * nothing. What is left is what the master spends per task on its side of the protocol, with 10, 100 or 1,000 agents
 * holding streams at once, which three real agents cannot show.
 *
 * <p>One connection per agent, because the master registers one worker per connection. The connections share one
 * small event-loop group and one executor, so that a thousand of them cost sockets, not threads.
 *
 * <p>The agents hold the assignments they receive until {@link #go()}: connecting a thousand takes seconds, and a drain
 * measured from the first connection would count that ramp instead of the master's dispatch.
 */
final class SimulatedAgents implements AutoCloseable {

    private static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    /** A RETRY verdict is sent again after this long, with a new seq. */
    private static final long RETRY_DELAY_MILLIS = 100;

    private final EventLoopGroup loops = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
    private final ExecutorService callbacks = Executors.newFixedThreadPool(2, daemon("sim-agent-callback"));
    private final ScheduledExecutorService retries = Executors.newSingleThreadScheduledExecutor(daemon("sim-agent-retry"));
    private final List<Agent> agents = new ArrayList<>();
    private final CountDownLatch registered;
    private volatile boolean released;

    /** Every counter of the run, over all agents. */
    final AtomicLong assignmentsReceived = new AtomicLong();
    final AtomicLong reportsSent = new AtomicLong();
    final AtomicLong taken = new AtomicLong();
    final AtomicLong refused = new AtomicLong();
    final AtomicLong retried = new AtomicLong();
    final AtomicLong streamsEnded = new AtomicLong();
    /** The first way a stream ended that the run did not ask for, to report it. */
    final AtomicReference<String> firstFailure = new AtomicReference<>();
    /** System.nanoTime of the last TAKEN acknowledgement. */
    final AtomicLong lastTakenNanos = new AtomicLong();

    private SimulatedAgents(int count) {
        this.registered = new CountDownLatch(count);
    }

    /**
     * Connects {@code count} agents named {@code prefix-0} ... to the master at {@code host:port} with the join token
     * (null: the master takes calls without one) and waits until each is registered, or {@code timeout} passes.
     */
    static SimulatedAgents connect(String host, int port, String joinToken, String prefix, int count, Duration timeout)
            throws InterruptedException {
        SimulatedAgents sim = new SimulatedAgents(count);
        try {
            for (int i = 0; i < count; i++) {
                Agent agent = sim.new Agent(host, port, joinToken, prefix + "-" + i);
                sim.agents.add(agent);
                agent.open();
            }
            if (!sim.registered.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new IllegalStateException((count - sim.registered.getCount()) + " of " + count
                        + " simulated agents registered within " + timeout.toSeconds() + " s; first failure: "
                        + sim.firstFailure.get());
            }
            return sim;
        } catch (RuntimeException | InterruptedException e) {
            sim.close();
            throw e;
        }
    }

    /** From now on every agent answers what it holds and whatever comes next at once. */
    void go() {
        released = true;
        for (Agent agent : agents) {
            agent.answerHeld();
        }
    }

    /** Waits until {@code n} reports have been taken in all, or {@code timeout}; false on the timeout. */
    boolean awaitTaken(long n, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (taken.get() < n) {
            if (System.nanoTime() > deadline || streamsEnded.get() == agents.size()) {
                return false;
            }
            TimeUnit.MILLISECONDS.sleep(20);
        }
        return true;
    }

    @Override
    public void close() {
        for (Agent agent : agents) {
            agent.close();
        }
        for (Agent agent : agents) {
            try {
                agent.channel.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        retries.shutdownNow();
        callbacks.shutdown();
        loops.shutdownGracefully(0, 2, TimeUnit.SECONDS);
    }

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        AtomicLong n = new AtomicLong();
        return runnable -> {
            Thread thread = new Thread(runnable, name + "-" + n.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        };
    }

    /** One simulated agent: its own connection, its stream, what it holds until {@link #go()}. */
    private final class Agent implements ClientResponseObserver<AgentMessage, MasterMessage> {

        private final ManagedChannel channel;
        private final String workerId;
        private final String joinToken;
        /** Assignments received before go(), answered then. Guarded by this. */
        private final List<Assignment> held = new ArrayList<>();
        /** Guarded by this: the stream's observer is not thread-safe, and answers come from several threads. */
        private ClientCallStreamObserver<AgentMessage> requests;
        private long seq;
        private boolean ended;

        Agent(String host, int port, String joinToken, String workerId) {
            this.workerId = workerId;
            this.joinToken = joinToken;
            this.channel = NettyChannelBuilder.forAddress(host, port)
                    .usePlaintext()
                    .eventLoopGroup(loops)
                    .channelType(NioSocketChannel.class)
                    .executor(callbacks)
                    .offloadExecutor(callbacks)
                    .maxInboundMessageSize(8 * 1024 * 1024)
                    .build();
        }

        void open() {
            NodeServiceGrpc.NodeServiceStub stub = NodeServiceGrpc.newStub(channel);
            if (joinToken != null) {
                Metadata headers = new Metadata();
                headers.put(AUTHORIZATION, "Bearer " + joinToken);
                stub = stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
            }
            stub.connect(this);
            // Only once the call has started: a message sent from beforeStart would fail ("Not started").
            send(AgentMessage.newBuilder().setHello(Hello.newBuilder()
                    .setProtocol(ProtocolVersion.PROTOCOL_VERSION_2)
                    .setWorkerId(workerId)
                    .setSlots(1)
                    .setPrefetch(1)
                    .setAgentVersion("taskgrid-bench-simulated")
                    .setSessionId(UUID.randomUUID().toString()))
                    .build());
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<AgentMessage> stream) {
            synchronized (this) {
                requests = stream;
            }
        }

        @Override
        public void onNext(MasterMessage message) {
            switch (message.getKindCase()) {
                case REGISTERED -> registered.countDown();
                case ASSIGNMENTS -> {
                    List<Assignment> assignments = message.getAssignments().getAssignmentsList();
                    assignmentsReceived.addAndGet(assignments.size());
                    List<Assignment> now;
                    synchronized (this) {
                        if (!released) {
                            held.addAll(assignments);
                            return;
                        }
                        now = assignments;
                    }
                    answer(now);
                }
                case ACKS -> {
                    for (ReportAck ack : message.getAcks().getAcksList()) {
                        switch (ack.getVerdict()) {
                            case TAKEN -> {
                                lastTakenNanos.set(System.nanoTime());
                                taken.incrementAndGet();
                            }
                            case RETRY -> {
                                retried.incrementAndGet();
                                // The report is kept by the master as not stored; sent again with a new seq.
                                Assignment again = retryOf(ack.getSeq());
                                if (again != null) {
                                    retries.schedule(() -> answer(List.of(again)), RETRY_DELAY_MILLIS,
                                            TimeUnit.MILLISECONDS);
                                }
                            }
                            default -> {
                                refused.incrementAndGet();
                                firstFailure.compareAndSet(null, workerId + ": report " + ack.getSeq() + " answered "
                                        + ack.getVerdict() + " " + ack.getReason());
                            }
                        }
                        forget(ack.getSeq());
                    }
                }
                case CANCEL -> {
                    // Nothing runs here; a cancelled attempt was answered FINISHED already or will be.
                }
                default -> {
                    // DRAINED and kinds of later protocols: nothing to do.
                }
            }
        }

        /** Reports sent and not yet acknowledged, by seq, so that a RETRY can be sent again. Guarded by this. */
        private final java.util.Map<Long, Assignment> unacknowledged = new java.util.HashMap<>();

        private synchronized Assignment retryOf(long ackSeq) {
            return unacknowledged.get(ackSeq);
        }

        private synchronized void forget(long ackSeq) {
            unacknowledged.remove(ackSeq);
        }

        synchronized void answerHeld() {
            List<Assignment> now = new ArrayList<>(held);
            held.clear();
            if (!now.isEmpty()) {
                answer(now);
            }
        }

        /** One Reports message (or several, past the protocol's per-message bound) for these assignments. */
        private synchronized void answer(List<Assignment> assignments) {
            for (int from = 0; from < assignments.size(); from += Protocol.MAX_REPORTS_PER_MESSAGE) {
                Reports.Builder reports = Reports.newBuilder();
                for (Assignment a : assignments.subList(from, Math.min(assignments.size(),
                        from + Protocol.MAX_REPORTS_PER_MESSAGE))) {
                    long s = ++seq;
                    unacknowledged.put(s, a);
                    reports.addReports(StatusReport.newBuilder()
                            .setTaskId(a.getTaskId())
                            .setAttemptId(a.getAttemptId())
                            .setPhase(Phase.FINISHED)
                            .setOutcome(Outcome.EXITED)
                            .setExitCode(0)
                            .setSeq(s)
                            .setRanMicros(0));
                }
                reportsSent.addAndGet(reports.getReportsCount());
                send(AgentMessage.newBuilder().setReports(reports).build());
            }
        }

        private synchronized void send(AgentMessage message) {
            if (!ended && requests != null) {
                requests.onNext(message);
            }
        }

        @Override
        public void onError(Throwable error) {
            end("stream failed: " + Status.fromThrowable(error));
        }

        @Override
        public void onCompleted() {
            end("stream ended by the master");
        }

        private void end(String why) {
            synchronized (this) {
                if (ended) {
                    return;
                }
                ended = true;
            }
            streamsEnded.incrementAndGet();
            firstFailure.compareAndSet(null, workerId + ": " + why);
        }

        void close() {
            synchronized (this) {
                if (!ended && requests != null) {
                    ended = true;
                    try {
                        requests.onCompleted();
                    } catch (IllegalStateException e) {
                        // the call never started or has ended already: nothing to close
                    }
                }
            }
            channel.shutdown();
        }
    }
}
