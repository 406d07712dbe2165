package io.taskgrid.it.bench;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.taskgrid.proto.v1.Acks;
import io.taskgrid.proto.v1.AgentMessage;
import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.Assignments;
import io.taskgrid.proto.v1.MasterMessage;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.Phase;
import io.taskgrid.proto.v1.ProtocolVersion;
import io.taskgrid.proto.v1.Registered;
import io.taskgrid.proto.v1.ReportAck;
import io.taskgrid.proto.v1.StatusReport;
import io.taskgrid.proto.v1.Verdict;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/** The simulated agents against a master of a few lines that speaks the Connect stream and checks what it is sent. */
class SimulatedAgentsTest {

    private static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final Context.Key<String> TOKEN = Context.key("token");

    private final List<String> tokens = new CopyOnWriteArrayList<>();
    private final List<AgentMessage> hellos = new CopyOnWriteArrayList<>();
    private final List<StatusReport> reports = new CopyOnWriteArrayList<>();
    private final Set<String> workers = ConcurrentHashMap.newKeySet();
    private final AtomicInteger assigned = new AtomicInteger();
    /** How many reports the fake master answers RETRY before it takes them. */
    private final AtomicInteger retriesLeft = new AtomicInteger();
    private Server server;

    /** Gives each agent two assignments after Registered (one slot, one prefetched) and acknowledges every report. */
    private final class FakeMaster implements NodeServiceGrpc.AsyncService {
        @Override
        public StreamObserver<AgentMessage> connect(StreamObserver<MasterMessage> responses) {
            tokens.add(String.valueOf(TOKEN.get()));
            return new StreamObserver<>() {
                @Override
                public void onNext(AgentMessage message) {
                    synchronized (responses) {
                        if (message.hasHello()) {
                            hellos.add(message);
                            workers.add(message.getHello().getWorkerId());
                            responses.onNext(MasterMessage.newBuilder().setRegistered(Registered.getDefaultInstance())
                                    .build());
                            Assignments.Builder two = Assignments.newBuilder();
                            for (int i = 0; i < 2; i++) {
                                int n = assigned.incrementAndGet();
                                two.addAssignments(Assignment.newBuilder().setTaskId("task-" + n)
                                        .setAttemptId("attempt-" + n).setCmd("true"));
                            }
                            responses.onNext(MasterMessage.newBuilder().setAssignments(two).build());
                        } else if (message.hasReports()) {
                            Acks.Builder acks = Acks.newBuilder();
                            for (StatusReport report : message.getReports().getReportsList()) {
                                boolean retry = retriesLeft.getAndDecrement() > 0;
                                if (!retry) {
                                    reports.add(report);
                                }
                                acks.addAcks(ReportAck.newBuilder().setSeq(report.getSeq()).setApplied(!retry)
                                        .setVerdict(retry ? Verdict.RETRY : Verdict.TAKEN));
                            }
                            responses.onNext(MasterMessage.newBuilder().setAcks(acks).build());
                        }
                    }
                }

                @Override
                public void onError(Throwable t) {
                }

                @Override
                public void onCompleted() {
                    synchronized (responses) {
                        responses.onCompleted();
                    }
                }
            };
        }
    }

    private int start() throws Exception {
        ServerInterceptor token = new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                              ServerCallHandler<Q, R> next) {
                return Contexts.interceptCall(Context.current().withValue(TOKEN, headers.get(AUTHORIZATION)), call,
                        headers, next);
            }
        };
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(ServerInterceptors.intercept(NodeServiceGrpc.bindService(new FakeMaster()), token))
                .build().start();
        return server.getPort();
    }

    @AfterEach
    void stop() throws InterruptedException {
        if (server != null) {
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void eachAgentRegistersOnItsOwnStreamAndAnswersOnlyAfterGo() throws Exception {
        int port = start();
        try (SimulatedAgents sim = SimulatedAgents.connect("127.0.0.1", port, "join-secret", "sim", 20,
                Duration.ofSeconds(30))) {
            assertThat(workers).hasSize(20);
            assertThat(tokens).hasSize(20).containsOnly("Bearer join-secret");
            assertThat(hellos).allSatisfy(m -> {
                assertThat(m.getHello().getProtocol()).isEqualTo(ProtocolVersion.PROTOCOL_VERSION_2);
                assertThat(m.getHello().getSlots()).isEqualTo(1);
                assertThat(m.getHello().getPrefetch()).isEqualTo(1);
                assertThat(m.getHello().getSessionId()).matches("[A-Za-z0-9-]{1,64}");
            });
            Thread.sleep(300);
            assertThat(reports).as("nothing is answered before go()").isEmpty();

            sim.go();
            assertThat(sim.awaitTaken(40, Duration.ofSeconds(10))).isTrue();
            assertThat(reports).hasSize(40).allSatisfy(r -> {
                assertThat(r.getPhase()).isEqualTo(Phase.FINISHED);
                assertThat(r.getOutcome()).isEqualTo(Outcome.EXITED);
                assertThat(r.getExitCode()).isZero();
                assertThat(r.hasRanMicros()).isTrue();
                assertThat(r.getSeq()).isPositive();
            });
            assertThat(reports.stream().map(StatusReport::getTaskId).distinct()).hasSize(40);
            assertThat(sim.refused.get()).isZero();
            assertThat(sim.firstFailure.get()).isNull();
        }
    }

    @Test
    void aReportAnsweredRetryIsSentAgainWithANewSeq() throws Exception {
        retriesLeft.set(1);
        int port = start();
        try (SimulatedAgents sim = SimulatedAgents.connect("127.0.0.1", port, null, "sim", 1, Duration.ofSeconds(30))) {
            sim.go();
            assertThat(sim.awaitTaken(2, Duration.ofSeconds(10))).isTrue();
            assertThat(sim.retried.get()).isEqualTo(1);
            assertThat(reports).hasSize(2);
            assertThat(reports.stream().map(StatusReport::getTaskId).distinct()).hasSize(2);
            assertThat(tokens).containsExactly("null");
        }
    }

    @Test
    void anAgentTheMasterRefusesIsReportedNotWaitedForForever() throws Exception {
        int port = start();
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        long t0 = System.nanoTime();
        try {
            SimulatedAgents.connect("127.0.0.1", port, null, "sim", 2, Duration.ofSeconds(2)).close();
            throw new AssertionError("connected to a master that is gone");
        } catch (IllegalStateException e) {
            assertThat(e.getMessage()).contains("0 of 2").contains("first failure");
        }
        assertThat(System.nanoTime() - t0).isLessThan(TimeUnit.SECONDS.toNanos(10));
    }
}
