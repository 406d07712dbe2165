package io.taskgrid.it;

import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import io.taskgrid.proto.v1.AgentMessage;
import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.Hello;
import io.taskgrid.proto.v1.MasterMessage;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import io.taskgrid.proto.v1.ProtocolVersion;
import io.taskgrid.proto.v1.ReportAck;
import io.taskgrid.proto.v1.Reports;
import io.taskgrid.proto.v1.RunningAttempt;
import io.taskgrid.proto.v1.StatusReport;

import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;

/**
 * A client that holds a valid join token and speaks the agent protocol, but is not an agent: what an attacker who got
 * hold of the token could do. Tests drive it by hand.
 */
final class FakeAgent implements AutoCloseable {

    private final ManagedChannel channel;
    private final Channel authenticated;
    final String workerId;
    final String sessionId = UUID.randomUUID().toString();
    final BlockingQueue<MasterMessage> commands = new LinkedBlockingQueue<>();
    final CompletableFuture<Status> ended = new CompletableFuture<>();
    private final Map<Long, CompletableFuture<ReportAck>> acks = new ConcurrentHashMap<>();
    private final AtomicLong seq = new AtomicLong();
    private StreamObserver<AgentMessage> stream;

    private FakeAgent(String target, String joinToken, String workerId) {
        this.channel = NettyChannelBuilder.forTarget(target).usePlaintext().build();
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + joinToken);
        this.authenticated = ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(headers));
        this.workerId = workerId;
    }

    /** A client that opens a Connect stream and never says Hello: it can only send messages the master refuses. */
    static FakeAgent unregistered(String target, String joinToken, String workerId) {
        FakeAgent agent = new FakeAgent(target, joinToken, workerId);
        agent.open(null);
        return agent;
    }

    /**
     * Registers as {@code workerId}, claiming {@code claims}; every message the master sends is queued, and each
     * assignment is also handed to {@code onAssignment} (with this agent) when it is not null.
     */
    static FakeAgent register(String target, String joinToken, String workerId, int slots, List<RunningAttempt> claims,
                              BiConsumer<FakeAgent, Assignment> onAssignment) {
        FakeAgent agent = new FakeAgent(target, joinToken, workerId);
        agent.open(onAssignment);
        agent.send(AgentMessage.newBuilder().setHello(Hello.newBuilder().setProtocol(ProtocolVersion.PROTOCOL_VERSION_2)
                .setWorkerId(workerId).setSlots(slots).setSessionId(agent.sessionId).addAllHeld(claims)
                .setAgentVersion("fake")).build());
        return agent;
    }

    private void open(BiConsumer<FakeAgent, Assignment> onAssignment) {
        stream = NodeServiceGrpc.newStub(authenticated).connect(new StreamObserver<>() {
            @Override
            public void onNext(MasterMessage message) {
                commands.add(message);
                for (ReportAck ack : message.getAcks().getAcksList()) {
                    acks.computeIfAbsent(ack.getSeq(), k -> new CompletableFuture<>()).complete(ack);
                }
                if (onAssignment != null) {
                    // Not on the transport's thread: the handler may report and wait for the answer.
                    message.getAssignments().getAssignmentsList().forEach(a ->
                            CompletableFuture.runAsync(() -> onAssignment.accept(FakeAgent.this, a)));
                }
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

    private synchronized void send(AgentMessage message) {
        stream.onNext(message);
    }

    /** The first message, which a registered stream gets at once. */
    MasterMessage firstCommand() throws InterruptedException {
        MasterMessage first = commands.poll(10, TimeUnit.SECONDS);
        if (first == null) {
            throw new AssertionError("the master sent " + workerId + " nothing");
        }
        return first;
    }

    /** Sends a report on this stream and waits for the master's answer to it. */
    ReportAck report(StatusReport report) {
        long n = seq.incrementAndGet();
        CompletableFuture<ReportAck> answer = acks.computeIfAbsent(n, k -> new CompletableFuture<>());
        send(AgentMessage.newBuilder().setReports(Reports.newBuilder().addReports(report.toBuilder().setSeq(n)))
                .build());
        try {
            return answer.get(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        } catch (ExecutionException | TimeoutException e) {
            throw new AssertionError("no answer to report " + n + " of " + workerId, e);
        }
    }

    /** The same; a report on a stream needs no worker id or session of its own. */
    ReportAck reportAsSelf(StatusReport.Builder report) {
        return report(report.build());
    }

    /** Sends a report without waiting for any answer (on a stream that never said Hello, none comes). */
    void reportUnanswered(StatusReport report) {
        send(AgentMessage.newBuilder().setReports(Reports.newBuilder().addReports(report)).build());
    }

    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
