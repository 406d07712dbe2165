package io.taskgrid.agent;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.CancelAttempt;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import io.taskgrid.proto.v1.Registered;
import io.taskgrid.proto.v1.ReportAck;
import io.taskgrid.proto.v1.StatusReport;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The link's rounds through the masters it knows: when none of them is there, and over the agent's own channels. How a
 * live master takes over from a dead one, with what the agent holds, is in {@link WorkerAgentTest}, against in-process
 * masters.
 */
class MasterLinkFailoverTest {

    /** One Connect call the link opened: to which master, when (System.nanoTime()). */
    private record Attempt(String master, long at) {
    }

    /**
     * Three masters, none listening: each is tried once a round, in the order given, one right after the other, and
     * between two rounds the link waits its backoff (200 ms, less at most 20 % jitter) instead of knocking in a loop.
     * Red without failover: only the first master was ever tried.
     */
    @Test
    void mastersThatAreAllAwayAreTriedInTurnOnceARoundWithTheBackoffBetweenRounds() throws Exception {
        List<String> names = List.of(InProcessServerBuilder.generateName(), InProcessServerBuilder.generateName(),
                InProcessServerBuilder.generateName());
        Queue<Attempt> attempts = new ConcurrentLinkedQueue<>();
        List<MasterLink.Target> targets = names.stream().map(name -> new MasterLink.Target(name,
                () -> InProcessChannelBuilder.forName(name).intercept(connects(name, attempts)).build())).toList();
        Duration backoff = Duration.ofMillis(200);
        MasterLink link = new MasterLink(targets, new JoinTokenCredentials(null, false), "w-away", 1, 1, Map.of(),
                "test", new Backoff(backoff, backoff), Duration.ofSeconds(1));
        Thread running = new Thread(() -> link.run(new Ignoring(), List::of), "test-link");
        running.start();
        long window = 1500;
        TimeUnit.MILLISECONDS.sleep(window);
        link.stop();
        running.join(10_000);
        assertThat(running.isAlive()).isFalse();

        List<Attempt> seen = List.copyOf(attempts);
        int n = names.size();
        assertThat(seen).as("at least two rounds").hasSizeGreaterThanOrEqualTo(2 * n);
        assertThat(seen.size()).as("no tight loop: about one round per backoff")
                .isLessThanOrEqualTo(n * (int) (window / 160 + 2));
        for (int i = 0; i < seen.size(); i++) {
            assertThat(seen.get(i).master()).as("attempt %d, round robin", i).isEqualTo(names.get(i % n));
        }
        for (int round = 1; round * n < seen.size(); round++) {
            long gap = seen.get(round * n).at() - seen.get(round * n - 1).at();
            assertThat(Duration.ofNanos(gap)).as("the wait before round %d", round)
                    .isGreaterThanOrEqualTo(Duration.ofMillis(150));
        }
    }

    /**
     * The agent's own Netty channels, one per address of --master: a port where nothing listens (a standby) refuses
     * the connection, and the next address takes the agent at once, with no backoff (30 s here) in between.
     */
    @Test
    void theAgentsChannelsGoFromARefusedConnectionToTheNextAddressAtOnce() throws Exception {
        FakeMaster master = new FakeMaster();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .addService(master).build().start();
        int refusing;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            refusing = probe.getLocalPort();
        }
        AgentOptions options = AgentOptions.parse("--id", "w-netty", "--master",
                "127.0.0.1:" + refusing + ",127.0.0.1:" + server.getPort(), "--reconnect-delay", "30s");
        MasterLink link = MasterLink.connect(options, "test");
        assertThat(link.targets()).isEqualTo("127.0.0.1:" + refusing + ", 127.0.0.1:" + server.getPort());
        Thread running = new Thread(() -> link.run(new Ignoring(), List::of), "test-link");
        running.start();
        try {
            assertThat(master.nextHello().getWorkerId()).isEqualTo("w-netty");
            assertThat(link.target()).isEqualTo("127.0.0.1:" + server.getPort());
        } finally {
            link.stop();
            running.join(10_000);
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /** Notes each Connect call on the channel of master {@code name}. */
    private static ClientInterceptor connects(String name, Queue<Attempt> attempts) {
        return new ClientInterceptor() {
            @Override
            public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options,
                                                       Channel next) {
                if (method.equals(NodeServiceGrpc.getConnectMethod())) {
                    attempts.add(new Attempt(name, System.nanoTime()));
                }
                return next.newCall(method, options);
            }
        };
    }

    /** No master ever registers the link here: nothing to listen to. */
    private static final class Ignoring implements MasterLink.Listener {
        @Override
        public void registered(Registered registered) {
        }

        @Override
        public void assignments(List<Assignment> assignments) {
        }

        @Override
        public void cancel(CancelAttempt cancel) {
        }

        @Override
        public void giveBack(List<String> attemptIds) {
        }

        @Override
        public void acknowledged(StatusReport report, ReportAck ack) {
        }
    }
}
