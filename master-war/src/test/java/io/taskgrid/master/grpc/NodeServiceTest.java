package io.taskgrid.master.grpc;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import io.taskgrid.master.dispatch.Dispatcher;
import io.taskgrid.master.dispatch.WorkerRegistry;
import io.taskgrid.proto.v1.AssignTaskRequest;
import io.taskgrid.proto.v1.WorkerCommand;
import io.taskgrid.proto.v1.DrainRequest;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/** The registration half of the protocol, over an in-process transport. */
class NodeServiceTest {

    private final WorkerRegistry registry = new WorkerRegistry();
    private GrpcServer server;
    private ManagedChannel channel;

    /** Dispatch itself is not under test here: passes are no-ops, and the lost-worker bookkeeping runs inline. */
    static final class InlineDispatcher extends Dispatcher {
        InlineDispatcher(WorkerRegistry registry) {
            super(null, registry, 30);
        }

        @Override
        public void requestDispatch() {
        }

        @Override
        public void workerConnected(io.taskgrid.master.dispatch.ConnectedWorker worker, java.util.Map<String, String> claimed) {
        }
    }

    @BeforeEach
    void start() {
        String name = InProcessServerBuilder.generateName();
        NodeService service = new NodeService();
        service.registry = registry;
        service.dispatcher = new InlineDispatcher(registry);
        service.outputLimitBytes = 1024;
        server = new GrpcServer(InProcessServerBuilder.forName(name).directExecutor(),
                NodeServiceGrpc.bindService(service)).start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    }

    @AfterEach
    void stop() {
        channel.shutdownNow();
        server.stop(1000);
        assertThat(server.isServing()).isFalse();
    }

    private CompletableFuture<Status> connect(String workerId, int slots) {
        return connect(workerId, slots, "session-of-" + workerId);
    }

    private CompletableFuture<Status> connect(String workerId, int slots, String session) {
        CompletableFuture<Status> ended = new CompletableFuture<>();
        NodeServiceGrpc.newStub(channel).assignTask(
                AssignTaskRequest.newBuilder().setWorkerId(workerId).setSlots(slots).setSessionId(session).build(),
                new StreamObserver<>() {
                    @Override
                    public void onNext(WorkerCommand value) {
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
        return ended;
    }

    @Test
    void aWorkerIsRegisteredWhileItsStreamIsOpen() {
        connect("w1", 2);
        awaitTrue(() -> registry.get("w1").isPresent());
        assertThat(registry.get("w1").orElseThrow().slots()).isEqualTo(2);
        assertThat(server.isServing()).isTrue();
    }

    @Test
    void badWorkerIdsAndSlotCountsAreRefused() throws Exception {
        assertThat(connect("has space", 1).get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(connect("", 1).get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(connect("w1", 0).get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(connect("w1", 257).get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(registry.all()).isEmpty();
    }

    @Test
    void aSecondConnectionForALiveIdIsRefusedAndTheFirstKeepsIt() throws Exception {
        CompletableFuture<Status> first = connect("w1", 1);
        awaitTrue(() -> registry.get("w1").isPresent());
        Status second = connect("w1", 1).get(5, TimeUnit.SECONDS);
        assertThat(second.getCode()).isEqualTo(Status.Code.ALREADY_EXISTS);
        assertThat(second.getDescription()).contains("w1");
        assertThat(first).isNotDone();
        assertThat(registry.all()).hasSize(1);
    }

    @Test
    void aWorkerLeavesTheRegistryTheMomentItsConnectionEnds() {
        connect("w1", 1);
        connect("w2", 1);
        awaitTrue(() -> registry.all().size() == 2);
        channel.shutdownNow();
        awaitTrue(() -> registry.all().isEmpty());
    }

    @Test
    void drainStopsNewWorkForThatWorkerOnly() {
        connect("w1", 1);
        connect("w2", 1);
        awaitTrue(() -> registry.all().size() == 2);
        NodeServiceGrpc.newBlockingStub(channel).drain(DrainRequest.newBuilder().setWorkerId("w1")
                .setSessionId("session-of-w1").build());
        assertThat(registry.get("w1").orElseThrow().isDraining()).isTrue();
        assertThat(registry.get("w2").orElseThrow().isDraining()).isFalse();
    }

    @Test
    void anAgentThatFailedToRegisterCannotDrainTheOneThatDid() throws Exception {
        connect("w1", 1, "real");
        awaitTrue(() -> registry.get("w1").isPresent());
        assertThat(connect("w1", 1, "impostor").get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.ALREADY_EXISTS);
        try {
            NodeServiceGrpc.newBlockingStub(channel).drain(DrainRequest.newBuilder().setWorkerId("w1")
                    .setSessionId("impostor").build());
            throw new AssertionError("expected NOT_FOUND");
        } catch (StatusRuntimeException e) {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
        }
        assertThat(registry.get("w1").orElseThrow().isDraining()).isFalse();
    }

    @Test
    void aReportWithoutTaskAndAttemptIsRefused() {
        try {
            NodeServiceGrpc.newBlockingStub(channel).reportStatus(io.taskgrid.proto.v1.StatusReport.newBuilder()
                    .setWorkerId("w1").build());
            throw new AssertionError("expected INVALID_ARGUMENT");
        } catch (StatusRuntimeException e) {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        }
    }

    private static void awaitTrue(BooleanSupplier condition) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not met within 5 s");
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        }
    }
}
