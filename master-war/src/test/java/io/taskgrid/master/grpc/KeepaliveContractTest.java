package io.taskgrid.master.grpc;

import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.taskgrid.master.config.TaskgridConfig;
import io.taskgrid.master.dispatch.Dispatcher;
import io.taskgrid.master.dispatch.WorkerRegistry;
import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.task.TestDatabase;
import io.taskgrid.proto.Keepalive;
import io.taskgrid.proto.v1.AgentMessage;
import io.taskgrid.proto.v1.Hello;
import io.taskgrid.proto.v1.MasterMessage;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import io.taskgrid.proto.v1.ProtocolVersion;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The master's keepalive settings can never make it drop an agent for pinging too often. Over real Netty transports
 * on loopback, because the enforcement (GOAWAY too_many_pings after a third early ping) lives in the transport: an
 * agent pings every 10 s (gRPC's floor for clients), so the third ping comes at 30 s, and this test takes that long.
 */
class KeepaliveContractTest {

    @Test
    void theAgentsPingRateIsWithinWhatTheMasterPermits() {
        assertThat(Keepalive.MASTER_PERMITS_PINGS_EVERY).isLessThanOrEqualTo(Keepalive.AGENT_PING_INTERVAL);
    }

    @Test
    void aMasterWithALongKeepaliveKeepsAnIdleAgentConnected(@TempDir Path dir) throws Exception {
        WorkerRegistry registry = new WorkerRegistry();
        TaskgridConfig config = TaskgridConfig.defaults();
        TaskStore store = TestDatabase.openStore(dir);
        Dispatcher dispatcher = new Dispatcher(store, registry, config);
        dispatcher.startLoop(TestDatabase.threads());
        dispatcher.start();
        NodeService service = new NodeService();
        service.registry = registry;
        service.dispatcher = dispatcher;
        service.store = store;
        service.config = config;
        // An hour between the master's own pings: before, the permitted agent ping interval was half of it.
        NettyServerBuilder builder = GrpcServerLifecycle.keepalive(
                NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)), 3600, 5);
        GrpcServer server = new GrpcServer(builder, NodeServiceGrpc.bindService(service)).start();
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext()
                .keepAliveTime(Keepalive.AGENT_PING_INTERVAL.toMillis(), TimeUnit.MILLISECONDS)
                .keepAliveTimeout(Keepalive.AGENT_PING_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
                .keepAliveWithoutCalls(true)
                .build();
        try {
            CompletableFuture<Status> ended = new CompletableFuture<>();
            StreamObserver<AgentMessage> stream = NodeServiceGrpc.newStub(channel).connect(new StreamObserver<>() {
                @Override
                public void onNext(MasterMessage value) {
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
            stream.onNext(AgentMessage.newBuilder().setHello(Hello.newBuilder()
                    .setProtocol(ProtocolVersion.PROTOCOL_VERSION_2).setWorkerId("w1").setSlots(1).setSessionId("s1"))
                    .build());
            long pings = 3;
            Thread.sleep(Keepalive.AGENT_PING_INTERVAL.multipliedBy(pings).toMillis() + 2000);
            assertThat(ended).as("the stream is still open after %d pings", pings).isNotDone();
            assertThat(channel.getState(false)).isEqualTo(ConnectivityState.READY);
            assertThat(registry.get("w1")).isPresent();
        } finally {
            channel.shutdownNow();
            server.stop(1000);
            dispatcher.stop();
            store.close();
        }
    }
}
