package io.taskgrid.master.grpc;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.taskgrid.proto.v1.AssignTaskRequest;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The readiness check believes {@link GrpcServer#isServing()}: it must say what a client finds. */
class GrpcServerTest {

    @Test
    void itServesFromStartUntilStopAndSaysSo() {
        String name = InProcessServerBuilder.generateName();
        GrpcServer server = new GrpcServer(InProcessServerBuilder.forName(name).directExecutor(),
                NodeServiceGrpc.bindService(new NodeServiceGrpc.AsyncService() { }));
        server.start();
        ManagedChannel channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        try {
            assertThatThrownBy(() -> NodeServiceGrpc.newBlockingStub(channel).assignTask(AssignTaskRequest.getDefaultInstance()).hasNext())
                    .as("answered, if only to say the method is not implemented here")
                    .isInstanceOfSatisfying(StatusRuntimeException.class,
                            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNIMPLEMENTED));
            assertThat(server.isServing()).isTrue();
            server.stop(1000);
            assertThat(server.isServing()).isFalse();
            assertThatThrownBy(() -> NodeServiceGrpc.newBlockingStub(channel).assignTask(AssignTaskRequest.getDefaultInstance()).hasNext())
                    .isInstanceOfSatisfying(StatusRuntimeException.class,
                            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
        } finally {
            channel.shutdownNow();
        }
    }
}
