package io.taskgrid.master.grpc;

import com.google.protobuf.ByteString;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptors;
import io.grpc.ForwardingServerCallListener;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import io.taskgrid.master.config.TaskgridConfig;
import io.taskgrid.master.dispatch.Dispatcher;
import io.taskgrid.master.dispatch.WorkerRegistry;
import io.taskgrid.master.output.OutputStore;
import io.taskgrid.master.output.StdStream;
import io.taskgrid.master.security.Credentials;
import io.taskgrid.master.security.JoinTokenInterceptor;
import io.taskgrid.master.security.TokenFile;
import io.taskgrid.master.task.Labels;
import io.taskgrid.master.task.NewTask;
import io.taskgrid.master.task.TaskIds;
import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.task.TestDatabase;
import io.taskgrid.proto.v1.AgentMessage;
import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.Hello;
import io.taskgrid.proto.v1.MasterMessage;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.OutputAck;
import io.taskgrid.proto.v1.OutputChunk;
import io.taskgrid.proto.v1.OutputStream;
import io.taskgrid.proto.v1.Phase;
import io.taskgrid.proto.v1.ProtocolVersion;
import io.taskgrid.proto.v1.ReportAck;
import io.taskgrid.proto.v1.Reports;
import io.taskgrid.proto.v1.StatusReport;
import io.taskgrid.proto.v1.Verdict;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * No holder of a join token can exhaust the master: what one connection, one join token, and all of them together can
 * make it hold (calls, workers, output calls, output not yet written) is bounded, a call past a bound is refused
 * RESOURCE_EXHAUSTED with a description (or, for output, waits), the refusals write a line a minute, and an agent that
 * keeps to the protocol still works meanwhile. Against the master's own wiring ({@link GrpcServerLifecycle}), over
 * in-process gRPC (one channel, one connection) and, for what the transport bounds, over Netty on loopback.
 */
class AgentBoundsTest {

    private static final String RACK_A = "tgj_rack-a-token";
    private static final String RACK_B = "tgj_rack-b-token";

    @TempDir
    Path dir;

    private final WorkerRegistry registry = new WorkerRegistry();
    private final List<ManagedChannel> channels = new CopyOnWriteArrayList<>();
    private final List<LogRecord> logged = new CopyOnWriteArrayList<>();
    private final List<Logger> loggers = List.of(Logger.getLogger(NodeService.class.getName()),
            Logger.getLogger(OutputStreamHandler.class.getName()), Logger.getLogger("io.taskgrid.master.grpc.AgentBounds"));
    private final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord record) {
            logged.add(record);
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };
    private TaskgridConfig config;
    private TaskStore store;
    private OutputStore output;
    private Dispatcher dispatcher;
    private GrpcServer server;
    private String serverName;

    /** A master of the test's own, with these bounds; {@code stuck}: an output store that never finishes a write. */
    private void start(int workersMax, int tokenCalls, long tokenBytes, long allBytes, StuckOutput stuck,
                       boolean netty) throws Exception {
        Path tokens = dir.resolve("tokens");
        Files.writeString(tokens, "join.rack-a = sha256:" + TokenFile.sha256(RACK_A) + "\n"
                + "join.rack-b = sha256:" + TokenFile.sha256(RACK_B) + "\n");
        config = AgentBoundsFixture.config(tokens.toString(), workersMax, tokenCalls, tokenBytes, allBytes);
        Credentials credentials = AgentBoundsFixture.credentials(config);
        store = TestDatabase.openStore(dir);
        dispatcher = new Dispatcher(store, registry, config);
        dispatcher.startLoop(TestDatabase.threads());
        dispatcher.start();
        NodeService service = new NodeService();
        service.registry = registry;
        service.dispatcher = dispatcher;
        service.store = store;
        service.config = config;
        output = stuck != null ? stuck.store(TestDatabase.h2(dir), config.outputLimitBytes())
                : new OutputStore(TestDatabase.h2(dir), config.outputLimitBytes(), TestDatabase.threads());
        service.output = output;
        if (netty) {
            NettyServerBuilder builder = AgentBoundsFixture.limits(
                    NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)), config);
            server = new GrpcServer(AgentBoundsFixture.serve(builder.intercept(callsInService), service, credentials))
                    .start();
        } else {
            serverName = InProcessServerBuilder.generateName();
            server = new GrpcServer(AgentBoundsFixture.serve(InProcessServerBuilder.forName(serverName)
                    .directExecutor(), service, credentials)).start();
        }
        loggers.forEach(l -> l.addHandler(capture));
    }

    @AfterEach
    void stop() {
        loggers.forEach(l -> l.removeHandler(capture));
        channels.forEach(ManagedChannel::shutdownNow);
        if (server != null) {
            server.stop(1000);
            dispatcher.stop();
            output.close();
            store.close();
        }
    }

    /** A new connection to the master (its calls carry a join token through {@link #stub}). */
    private ManagedChannel channel() {
        ManagedChannel channel = serverName != null
                ? InProcessChannelBuilder.forName(serverName).directExecutor().build()
                : NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
        channels.add(channel);
        return channel;
    }

    private static NodeServiceGrpc.NodeServiceStub stub(ManagedChannel channel, String joinToken) {
        Metadata headers = new Metadata();
        headers.put(JoinTokenInterceptor.AUTHORIZATION, "Bearer " + joinToken);
        return NodeServiceGrpc.newStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    }

    private static NodeServiceGrpc.NodeServiceBlockingStub blocking(ManagedChannel channel, String joinToken) {
        Metadata headers = new Metadata();
        headers.put(JoinTokenInterceptor.AUTHORIZATION, "Bearer " + joinToken);
        return NodeServiceGrpc.newBlockingStub(channel)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    }

    /** One Connect stream as a client opens it. */
    private static final class Agent {
        final String session;
        final List<MasterMessage> received = new CopyOnWriteArrayList<>();
        final CompletableFuture<Status> ended = new CompletableFuture<>();
        volatile ClientCallStreamObserver<AgentMessage> call;

        Agent(String workerId) {
            this.session = "session-of-" + workerId;
        }

        boolean registered() {
            return received.stream().anyMatch(MasterMessage::hasRegistered);
        }

        List<Assignment> assignments() {
            return received.stream().filter(MasterMessage::hasAssignments)
                    .flatMap(m -> m.getAssignments().getAssignmentsList().stream()).toList();
        }

        List<ReportAck> acks() {
            return received.stream().filter(MasterMessage::hasAcks)
                    .flatMap(m -> m.getAcks().getAcksList().stream()).toList();
        }

        synchronized void send(AgentMessage message) {
            call.onNext(message);
        }
    }

    private Agent connect(NodeServiceGrpc.NodeServiceStub stub, String workerId, Map<String, String> labels) {
        Agent agent = new Agent(workerId);
        stub.connect(new ClientResponseObserver<AgentMessage, MasterMessage>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<AgentMessage> call) {
                agent.call = call;
            }

            @Override
            public void onNext(MasterMessage value) {
                agent.received.add(value);
            }

            @Override
            public void onError(Throwable t) {
                agent.ended.complete(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
                agent.ended.complete(Status.OK);
            }
        });
        agent.send(AgentMessage.newBuilder().setHello(Hello.newBuilder().setProtocol(ProtocolVersion.PROTOCOL_VERSION_2)
                .setWorkerId(workerId).setSlots(1).setSessionId(agent.session).putAllLabels(labels)).build());
        return agent;
    }

    /** One StreamOutput call as a client opens it. */
    private static final class OutputCall {
        final List<OutputAck> acks = new CopyOnWriteArrayList<>();
        final CompletableFuture<Status> ended = new CompletableFuture<>();
        final StreamObserver<OutputChunk> requests;

        OutputCall(NodeServiceGrpc.NodeServiceStub stub) {
            requests = stub.streamOutput(new StreamObserver<>() {
                @Override
                public void onNext(OutputAck ack) {
                    acks.add(ack);
                }

                @Override
                public void onError(Throwable t) {
                    ended.complete(Status.fromThrowable(t));
                }

                @Override
                public void onCompleted() {
                    ended.complete(Status.OK);
                }
            });
        }

        synchronized void send(OutputChunk chunk) {
            requests.onNext(chunk);
        }
    }

    private Assignment submitFor(Agent agent, String cmd, Map<String, String> requires) throws Exception {
        int before = agent.assignments().size();
        dispatcher.submit(TaskIds.next(), new NewTask(cmd, Map.of(), null, null, null, null, null, null,
                Labels.of(requires)), "tester", null, null, null).get(5, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(10)).until(() -> agent.assignments().size() > before);
        return agent.assignments().get(before);
    }

    /** A real agent's whole round: registered, given a task, its output streamed and stored, its result taken. */
    private void aRealAgentStillWorks(String joinToken, String workerId) throws Exception {
        ManagedChannel channel = channel();
        Agent agent = connect(stub(channel, joinToken), workerId, Map.of("pool", workerId));
        await().atMost(Duration.ofSeconds(10)).until(() -> agent.registered() || agent.ended.isDone());
        assertThat(agent.ended).as("%s registered", workerId).isNotDone();
        Assignment task = submitFor(agent, "echo hello", Map.of("pool", workerId));
        OutputCall live = new OutputCall(stub(channel, joinToken));
        live.send(OutputChunk.newBuilder().setWorkerId(workerId).setSessionId(agent.session)
                .setTaskId(task.getTaskId()).setAttemptId(task.getAttemptId()).setStream(OutputStream.STDOUT)
                .setOffset(0).setData(ByteString.copyFromUtf8("hello\n")).build());
        await().atMost(Duration.ofSeconds(10)).until(() -> !live.acks.isEmpty());
        assertThat(live.acks.get(0).getRefused()).isFalse();
        assertThat(live.acks.get(0).getStoredTo()).isEqualTo(6);
        agent.send(AgentMessage.newBuilder().setReports(Reports.newBuilder().addReports(StatusReport.newBuilder()
                .setSeq(7).setTaskId(task.getTaskId()).setAttemptId(task.getAttemptId())
                .setPhase(Phase.FINISHED).setOutcome(Outcome.EXITED).setExitCode(0)
                .setStdout(ByteString.copyFromUtf8("hello\n")).setStdoutTotalBytes(6).setStderrTotalBytes(0))).build());
        await().atMost(Duration.ofSeconds(10)).until(() -> !agent.acks().isEmpty());
        assertThat(agent.acks().get(0).getSeq()).isEqualTo(7);
        assertThat(agent.acks().get(0).getVerdict()).isEqualTo(Verdict.TAKEN);
        assertThat(agent.acks().get(0).getApplied()).isTrue();
        assertThat(TestDatabase.rows(TestDatabase.h2(dir), "SELECT STATE, STDOUT_TEXT FROM TG_TASK WHERE ID = '"
                + task.getTaskId() + "'")).containsExactly(List.of("SUCCEEDED", "hello\n"));
    }

    private long lines(String text) {
        return logged.stream().filter(r -> r.getMessage().contains(text)).count();
    }

    private static List<Status> endings(List<CompletableFuture<Status>> ended) {
        return ended.stream().filter(CompletableFuture::isDone).map(CompletableFuture::join).toList();
    }

    @Test
    void oneConnectionRegistersOneWorkerHoweverManyItMakesUp() throws Exception {
        start(1000, 4096, 32 << 20, 64 << 20, null, false);
        NodeServiceGrpc.NodeServiceStub flood = stub(channel(), RACK_A);
        List<Agent> fakes = new ArrayList<>();
        Map<String, String> maximal = new java.util.HashMap<>();
        for (int label = 0; label < 16; label++) {
            maximal.put("label-" + label + "-" + "k".repeat(53), "v".repeat(63));
        }
        for (int i = 0; i < 2000; i++) {
            fakes.add(connect(flood, "fake-" + i + "-" + "x".repeat(40), maximal));
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> fakes.stream().allMatch(a -> a.registered() || a.ended.isDone()));
        List<Status> refused = endings(fakes.stream().map(a -> a.ended).toList());
        assertThat(registry.all().size()).as("workers registered over one connection").isEqualTo(1);
        assertThat(refused).hasSize(1999).allSatisfy(status -> {
            assertThat(status.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
            assertThat(status.getDescription()).contains("one worker per channel");
        });
        assertThat(lines("refused to register")).as("a line a minute").isEqualTo(1);

        aRealAgentStillWorks(RACK_A, "real");
    }

    @Test
    void theMasterTakesAtMostWorkersMaxWorkers() throws Exception {
        start(20, 4096, 32 << 20, 64 << 20, null, false);
        List<Agent> agents = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            agents.add(connect(stub(channel(), RACK_A), "w" + i, Map.of()));
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> agents.stream().allMatch(a -> a.registered() || a.ended.isDone()));
        assertThat(registry.all().size()).isEqualTo(20);
        assertThat(endings(agents.stream().map(a -> a.ended).toList())).hasSize(10).allSatisfy(status -> {
            assertThat(status.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
            assertThat(status.getDescription()).contains("taskgrid.workers.max");
        });

        // One leaves: one more comes in.
        Agent leaving = agents.stream().filter(Agent::registered).findFirst().orElseThrow();
        leaving.call.cancel("leaving", null);
        await().atMost(Duration.ofSeconds(10)).until(() -> registry.all().size() == 19);
        Agent next = connect(stub(channel(), RACK_A), "next", Map.of());
        await().atMost(Duration.ofSeconds(10)).until(next::registered);
    }

    @Test
    void oneConnectionOpensAtMostTwoOutputCalls() throws Exception {
        start(1000, 4096, 32 << 20, 64 << 20, null, false);
        NodeServiceGrpc.NodeServiceStub flood = stub(channel(), RACK_A);
        List<OutputCall> calls = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            calls.add(new OutputCall(flood));
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> calls.stream().filter(c -> c.ended.isDone()).count() >= 998);
        TimeUnit.MILLISECONDS.sleep(200);
        assertThat(endings(calls.stream().map(c -> c.ended).toList())).hasSize(998).allSatisfy(status -> {
            assertThat(status.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
            assertThat(status.getDescription()).contains("StreamOutput");
        });
        assertThat(lines("refused a StreamOutput call")).isEqualTo(1);

        aRealAgentStillWorks(RACK_A, "real");
    }

    @Test
    void aJoinTokenHoldsAtMostItsCallsAndAnAgentOfAnotherStillWorks() throws Exception {
        start(1000, 40, 32 << 20, 64 << 20, null, false);
        List<OutputCall> calls = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            NodeServiceGrpc.NodeServiceStub connection = stub(channel(), RACK_A);
            calls.add(new OutputCall(connection));
            calls.add(new OutputCall(connection));
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> calls.stream().filter(c -> c.ended.isDone()).count() >= 160);
        TimeUnit.MILLISECONDS.sleep(200);
        assertThat(endings(calls.stream().map(c -> c.ended).toList())).hasSize(160).allSatisfy(status -> {
            assertThat(status.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
            assertThat(status.getDescription()).contains("taskgrid.grpc.token.max.calls");
        });
        assertThat(lines("taskgrid.grpc.token.max.calls")).as("a line a minute").isEqualTo(1);

        aRealAgentStillWorks(RACK_B, "other-rack");
    }

    /** An output store whose writes never finish (a database that hangs): what reaches it stays in the master. */
    private static final class StuckOutput {
        final AtomicLong inHand = new AtomicLong();
        final AtomicLong mostInHand = new AtomicLong();
        final Map<String, AtomicInteger> chunksByAttempt = new java.util.concurrent.ConcurrentHashMap<>();

        OutputStore store(javax.sql.DataSource db, long limit) {
            return new OutputStore(db, limit, TestDatabase.threads()) {
                @Override
                public CompletableFuture<Long> append(String taskId, String attemptId, StdStream stream, long offset,
                                                      byte[] data) {
                    mostInHand.accumulateAndGet(inHand.addAndGet(data.length), Math::max);
                    chunksByAttempt.computeIfAbsent(attemptId, a -> new AtomicInteger()).incrementAndGet();
                    return new CompletableFuture<>();
                }
            };
        }
    }

    @Test
    void outputTakenAndNotYetWrittenIsBoundedPerJoinTokenHoweverManyCallsSendIt() throws Exception {
        StuckOutput stuck = new StuckOutput();
        start(1000, 4096, 1 << 20, 4 << 20, stuck, false);
        ManagedChannel home = channel();
        Agent agent = connect(stub(home, RACK_A), "a", Map.of("pool", "a"));
        await().atMost(Duration.ofSeconds(10)).until(agent::registered);
        Assignment task = submitFor(agent, "yes", Map.of("pool", "a"));
        ByteString chunk = ByteString.copyFrom(new byte[64 * 1024]);
        // 40 connections, two calls each, five chunks a call: all naming the attempt the agent holds.
        for (int i = 0; i < 40; i++) {
            NodeServiceGrpc.NodeServiceStub connection = stub(channel(), RACK_A);
            for (int call = 0; call < 2; call++) {
                OutputCall out = new OutputCall(connection);
                for (int n = 0; n < 5; n++) {
                    out.send(OutputChunk.newBuilder().setWorkerId("a").setSessionId(agent.session)
                            .setTaskId(task.getTaskId()).setAttemptId(task.getAttemptId())
                            .setStream(OutputStream.STDOUT).setOffset((long) n * chunk.size()).setData(chunk).build());
                }
            }
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> stuck.mostInHand.get() > 0);
        TimeUnit.MILLISECONDS.sleep(500);
        assertThat(stuck.mostInHand.get()).as("bytes the master holds for one join token")
                .isLessThanOrEqualTo(1 << 20);

        // Another join token's agent still gets its output in.
        Agent other = connect(stub(channel(), RACK_B), "b", Map.of("pool", "b"));
        await().atMost(Duration.ofSeconds(10)).until(other::registered);
        Assignment its = submitFor(other, "echo", Map.of("pool", "b"));
        new OutputCall(stub(channel(), RACK_B)).send(OutputChunk.newBuilder().setWorkerId("b")
                .setSessionId(other.session).setTaskId(its.getTaskId()).setAttemptId(its.getAttemptId())
                .setStream(OutputStream.STDOUT).setOffset(0).setData(ByteString.copyFromUtf8("b\n")).build());
        await().atMost(Duration.ofSeconds(10)).until(() -> stuck.chunksByAttempt.containsKey(its.getAttemptId()));
    }

    /** How many calls are in the service at once (the transport lets through), and the most there were. */
    private final AtomicInteger inService = new AtomicInteger();
    private final AtomicInteger mostInService = new AtomicInteger();
    private final ServerInterceptor callsInService = new ServerInterceptor() {
        @Override
        public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                           ServerCallHandler<Q, R> next) {
            mostInService.accumulateAndGet(inService.incrementAndGet(), Math::max);
            return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(next.startCall(call, headers)) {
                @Override
                public void onCancel() {
                    inService.decrementAndGet();
                    super.onCancel();
                }

                @Override
                public void onComplete() {
                    inService.decrementAndGet();
                    super.onComplete();
                }
            };
        }
    };

    /**
     * A client opening a thousand calls on one connection (here reports it never sends, which the master would wait
     * for as long as the client likes): the master runs at most 64 of them at once, the rest wait in the client, and
     * an agent on another connection with the same join token still works.
     */
    @Test
    void oneConnectionRunsAtMost64CallsAtOnce() throws Exception {
        start(1000, 4096, 32 << 20, 64 << 20, null, true);
        ManagedChannel flood = channel();
        Metadata headers = new Metadata();
        headers.put(JoinTokenInterceptor.AUTHORIZATION, "Bearer " + RACK_A);
        io.grpc.Channel authenticated = ClientInterceptors.intercept(flood,
                MetadataUtils.newAttachHeadersInterceptor(headers));
        // Connect streams that never say Hello: each sits in the master until its client goes.
        MethodDescriptor<AgentMessage, MasterMessage> connect = NodeServiceGrpc.getConnectMethod();
        List<ClientCall<AgentMessage, MasterMessage>> hanging = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            ClientCall<AgentMessage, MasterMessage> call = authenticated.newCall(connect, CallOptions.DEFAULT);
            call.start(new ClientCall.Listener<>() {
            }, new Metadata());
            call.request(1);
            hanging.add(call);
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> inService.get() >= 64);
        TimeUnit.SECONDS.sleep(1);
        assertThat(mostInService.get()).as("calls of one connection in the master at once").isEqualTo(64);

        aRealAgentStillWorks(RACK_A, "real");
        hanging.forEach(call -> call.cancel("done", null));
    }
}
