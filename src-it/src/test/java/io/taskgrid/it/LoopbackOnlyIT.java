package io.taskgrid.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** With default settings the master can be reached from this machine only. */
@ExtendWith(SharedCluster.class)
class LoopbackOnlyIT {

    @Test
    void theRestAndGrpcPortsAreClosedOnEveryNonLoopbackAddress() throws Exception {
        Optional<InetAddress> external = Hosts.nonLoopbackAddress();
        assumeTrue(external.isPresent(), "this machine has no non-loopback IPv4 address to try");
        int http = SharedCluster.cluster().config().apiPort();
        int grpc = SharedCluster.cluster().config().grpcPort();
        assertThat(canConnect(InetAddress.getLoopbackAddress(), http)).isTrue();
        assertThat(canConnect(InetAddress.getLoopbackAddress(), grpc)).isTrue();
        assertThat(canConnect(external.get(), http)).as("REST on " + external.get()).isFalse();
        assertThat(canConnect(external.get(), grpc)).as("gRPC on " + external.get()).isFalse();
    }

    private static boolean canConnect(InetAddress address, int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(address, port), 2000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

}
