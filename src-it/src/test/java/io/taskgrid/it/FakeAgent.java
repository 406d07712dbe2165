package io.taskgrid.it;

import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import io.taskgrid.proto.v1.AssignTaskRequest;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import io.taskgrid.proto.v1.ReportAck;
import io.taskgrid.proto.v1.RunningAttempt;
import io.taskgrid.proto.v1.StatusReport;
import io.taskgrid.proto.v1.WorkerCommand;

import java.util.List;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
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
    final BlockingQueue<WorkerCommand> commands = new LinkedBlockingQueue<>();
    final CompletableFuture<Status> ended = new CompletableFuture<>();

    private FakeAgent(String target, String joinToken, String workerId) {
        this.channel = NettyChannelBuilder.forTarget(target).usePlaintext().build();
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + joinToken);
        this.authenticated = ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(headers));
        this.workerId = workerId;
    }

    /** A client that has not registered at all: it can only send unary calls. */
    static FakeAgent unregistered(String target, String joinToken, String workerId) {
        return new FakeAgent(target, joinToken, workerId);
    }

    /**
     * Registers as {@code workerId}, claiming {@code claims}; every command the master sends is queued, and each
     * assignment is also handed to {@code onAssignment} (with this agent) when it is not null.
     */
    static FakeAgent register(String target, String joinToken, String workerId, int slots, List<RunningAttempt> claims,
                              BiConsumer<FakeAgent, WorkerCommand> onAssignment) {
        FakeAgent agent = new FakeAgent(target, joinToken, workerId);
        NodeServiceGrpc.newStub(agent.authenticated).assignTask(AssignTaskRequest.newBuilder().setWorkerId(workerId)
                .setSlots(slots).setSessionId(agent.sessionId).addAllRunning(claims).setAgentVersion("fake").build(),
                new StreamObserver<>() {
                    @Override
                    public void onNext(WorkerCommand command) {
                        agent.commands.add(command);
                        if (command.hasAssignment() && onAssignment != null) {
                            onAssignment.accept(agent, command);
                        }
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
        return agent;
    }

    /** The first command, which a registered connection gets at once. */
    WorkerCommand firstCommand() throws InterruptedException {
        WorkerCommand first = commands.poll(10, TimeUnit.SECONDS);
        if (first == null) {
            throw new AssertionError("the master sent " + workerId + " nothing");
        }
        return first;
    }

    /** Sends a report as given (the caller sets worker id and session, or leaves them out). */
    ReportAck report(StatusReport report) {
        return NodeServiceGrpc.newBlockingStub(authenticated).withDeadlineAfter(10, TimeUnit.SECONDS).reportStatus(report);
    }

    /** The same, signed with this agent's own worker id and session. */
    ReportAck reportAsSelf(StatusReport.Builder report) {
        return report(report.setWorkerId(workerId).setSessionId(sessionId).build());
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
