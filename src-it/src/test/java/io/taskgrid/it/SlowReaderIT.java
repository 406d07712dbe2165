package io.taskgrid.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Clients that ask for large answers and never read them: each would keep a request thread and the answer's megabytes
 * for as long as it stays connected. Here 24 raw sockets with tiny receive windows ask for a task of 2 MiB output and
 * read nothing. The master holds at most its permits' worth of such answers (the rest are told 503 at once), its other
 * callers are answered meanwhile, and once the write deadline ({@code taskgrid.api.write.timeout.seconds}, 15 s on the
 * shared cluster) has passed a normal read of the same task is served again, with every slow socket still open.
 */
@ExtendWith(SharedCluster.class)
class SlowReaderIT {

    private static final int SLOW_CLIENTS = 24;
    /** taskgrid.api.max.concurrent.output.reads on the shared cluster (the default). */
    private static final int PERMITS = 16;

    @Test
    void clientsThatStopReadingHoldNeitherPermitsNorThreadsForLong() throws Exception {
        TaskgridClient api = SharedCluster.client();
        String id = api.submitCmd("head -c 1200000 /dev/zero | tr '\\0' a; head -c 1200000 /dev/zero | tr '\\0' b >&2");
        assertThat(api.awaitFinal(id, Duration.ofSeconds(60)).getString("state")).isEqualTo("SUCCEEDED");

        URI base = URI.create(api.base());
        List<Socket> slow = new ArrayList<>();
        try {
            for (int i = 0; i < SLOW_CLIENTS; i++) {
                Socket socket = new Socket();
                socket.setReceiveBufferSize(1024);
                socket.connect(new InetSocketAddress(base.getHost(), base.getPort()), 5000);
                socket.setSoTimeout(20_000);
                socket.getOutputStream().write(("GET /tasks/" + id + " HTTP/1.1\r\nHost: " + base.getHost() + ":"
                        + base.getPort() + "\r\nAuthorization: Bearer " + SharedCluster.cluster().apiToken()
                        + "\r\nAccept: application/json\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                slow.add(socket);
            }
            // The master's other callers are answered while those answers wait.
            long start = System.nanoTime();
            assertThat(api.get("/workers").status()).isEqualTo(200);
            assertThat(api.get("/tasks?limit=5").status()).isEqualTo(200);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));

            // Each slow client's status line only (a few bytes of its answer): at most one answer per permit is being
            // written; the others were refused once they had waited for one.
            int served = 0;
            int refused = 0;
            for (Socket socket : slow) {
                String status = statusLine(socket.getInputStream());
                if (status.startsWith("HTTP/1.1 200")) {
                    served++;
                } else if (status.startsWith("HTTP/1.1 503")) {
                    refused++;
                }
            }
            assertThat(served).as("answers held for clients that do not read them").isLessThanOrEqualTo(PERMITS);
            assertThat(refused).as("refused with 503").isEqualTo(SLOW_CLIENTS - served);

            // Within the deadline and the server's own write timeout, the permits are back, though no slow socket
            // was read any further or closed.
            long stalled = System.nanoTime();
            await().atMost(Duration.ofSeconds(45)).pollInterval(Duration.ofSeconds(1))
                    .until(() -> api.get("/tasks/" + id).status() == 200);
            System.out.printf("SlowReaderIT: %d slow clients, %d served, %d refused; a normal read served again %d s "
                    + "later%n", SLOW_CLIENTS, served, refused,
                    Duration.ofNanos(System.nanoTime() - stalled).toSeconds());
        } finally {
            for (Socket socket : slow) {
                socket.close();
            }
        }
    }

    private static String statusLine(InputStream in) throws IOException {
        StringBuilder line = new StringBuilder();
        int c;
        while ((c = in.read()) != -1 && c != '\n' && line.length() < 200) {
            line.append((char) c);
        }
        return line.toString().trim();
    }
}
