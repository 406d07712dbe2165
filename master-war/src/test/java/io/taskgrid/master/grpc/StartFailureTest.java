package io.taskgrid.master.grpc;

import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.taskgrid.master.config.TaskgridConfig;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

/** Why a start failed reaches the operator as one line that says what to do, not as a stack trace to decode. */
class StartFailureTest {

    @Test
    void aGrpcPortHeldByAnotherProcessIsSaidAsSuchWithTheSettingThatMovesIt() throws Exception {
        try (ServerSocket holder = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            int port = holder.getLocalPort();
            GrpcServer server = new GrpcServer(NettyServerBuilder.forAddress(new InetSocketAddress(
                    InetAddress.getLoopbackAddress(), port)), NodeServiceGrpc.bindService(new NodeServiceGrpc.AsyncService() { }));
            Throwable failure = catchThrowable(server::start);

            String cause = GrpcServerLifecycle.cause(failure, TaskgridConfig.defaults().withGrpcPort(port));
            assertThat(cause).startsWith("cannot listen on the gRPC port " + port + " of localhost (")
                    .endsWith("another process holds it; stop that one, or set taskgrid.grpc.port (TASKGRID_GRPC_PORT)")
                    .doesNotContain("\n");
        }
    }

    @Test
    void otherwiseTheFirstMessageOnOneLine() {
        RuntimeException failure = new IllegalStateException("cannot reach the database: Connection refused\nat x",
                new java.sql.SQLException("deeper"));
        assertThat(GrpcServerLifecycle.cause(failure, TaskgridConfig.defaults()))
                .isEqualTo("cannot reach the database: Connection refused?at x");
    }

    @Test
    void theExceptionTheServerPrintsCarriesTheCauseAndNoStackTrace() {
        GrpcServerLifecycle.MasterNotStarted failure = new GrpcServerLifecycle.MasterNotStarted("a cause");
        assertThat(failure.getMessage()).isEqualTo("Taskgrid master not started: a cause");
        assertThat(failure.getStackTrace()).isEmpty();
    }

    /** A library that cannot parse a key may quote it; the line that reaches the log must not. */
    @Test
    void aKeyOrCertificateInTheCauseIsNotRepeated() {
        RuntimeException failure = new IllegalArgumentException("File does not contain valid private key: "
                + "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n and more");
        assertThat(GrpcServerLifecycle.cause(failure, TaskgridConfig.defaults()))
                .isEqualTo("File does not contain valid private key: [a PEM block, not shown]? and more")
                .doesNotContain("MIIE");
        assertThat(GrpcServerLifecycle.cause(new IllegalStateException("cut -----BEGIN CERTIFICATE-----\nMIIB"),
                TaskgridConfig.defaults())).isEqualTo("cut [a PEM block, not shown]");
    }
}
