package io.taskgrid.agent;

import io.grpc.ForwardingChannelBuilder2;
import io.grpc.ManagedChannelBuilder;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.taskgrid.proto.Keepalive;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The agent keeps to the keepalive contract that the master's KeepaliveContractTest holds the master to: the master's
 * test builds its own client from {@link Keepalive}, so only this one sees what the agent's channel really gets.
 */
class MasterLinkKeepaliveTest {

    @Test
    void theAgentPingsAsTheContractSaysAndNoMoreOftenThanTheMasterPermits() {
        Recording builder = MasterLink.withKeepalive(new Recording());
        assertThat(builder.time).isEqualTo(Keepalive.AGENT_PING_INTERVAL);
        assertThat(builder.timeout).isEqualTo(Keepalive.AGENT_PING_TIMEOUT);
        assertThat(builder.time).as("what the master permits").isGreaterThanOrEqualTo(Keepalive.MASTER_PERMITS_PINGS_EVERY);
        // The master permits pings without calls (GrpcServerLifecycle.keepalive): between two streams, only a ping
        // notices a master that vanished without closing the connection.
        assertThat(builder.withoutCalls).isTrue();
    }

    /** Records the keepalive settings; everything else goes to a builder that is never built. */
    private static final class Recording extends ForwardingChannelBuilder2<Recording> {
        private final ManagedChannelBuilder<?> delegate = InProcessChannelBuilder.forName("unused");
        Duration time;
        Duration timeout;
        Boolean withoutCalls;

        @Override
        protected ManagedChannelBuilder<?> delegate() {
            return delegate;
        }

        @Override
        public Recording keepAliveTime(long time, TimeUnit unit) {
            this.time = Duration.ofNanos(unit.toNanos(time));
            return this;
        }

        @Override
        public Recording keepAliveTimeout(long timeout, TimeUnit unit) {
            this.timeout = Duration.ofNanos(unit.toNanos(timeout));
            return this;
        }

        @Override
        public Recording keepAliveWithoutCalls(boolean enable) {
            this.withoutCalls = enable;
            return this;
        }
    }
}
