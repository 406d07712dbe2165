package io.taskgrid.it;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * A master told to listen beyond loopback without TLS for its agents does not start: join tokens, commands and
 * secrets would cross the network in clear. The log says why and how to proceed.
 */
class InsecureTransportIT {

    private static final int HTTP_PORT = 22092;
    private static final int GRPC_PORT = 22051;
    private static ExtraServer server;

    @BeforeAll
    static void startWithoutTls() throws Exception {
        server = ExtraServer.start("taskgrid-insecure", "TASKGRID_HTTP_PORT=" + HTTP_PORT,
                "TASKGRID_GRPC_PORT=" + GRPC_PORT, "TASKGRID_LISTEN_HOST=*");
    }

    @AfterAll
    static void stop() throws Exception {
        server.stop();
    }

    @Test
    void listeningBeyondLoopbackWithoutTlsIsRefusedWithTheReason() throws Exception {
        Path messages = server.dir().resolve("logs/messages.log");
        poll(Duration.ofSeconds(60), Duration.ofMillis(200)).alias("the refusal is logged").until(() ->
                Files.exists(messages) && Files.readString(messages).contains("Taskgrid master not started"));
        assertThat(Files.readString(messages)).contains("refusing to start").contains("taskgrid.tls.insecure.allowed")
                .contains("taskgrid.grpc.tls.cert");
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), GRPC_PORT), 2000);
            throw new AssertionError("the gRPC port is open although the master refused to start");
        } catch (IOException expected) {
            // nothing listens
        }
        TaskgridClient api = new TaskgridClient("http://localhost:" + HTTP_PORT, null);
        assertThat(api.get("/workers").status()).as("no API either").isNotEqualTo(200).isNotEqualTo(401);
    }
}
