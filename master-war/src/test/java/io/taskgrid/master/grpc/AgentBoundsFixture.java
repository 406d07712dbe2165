package io.taskgrid.master.grpc;

import io.grpc.ServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.taskgrid.master.config.TaskgridConfig;
import io.taskgrid.master.security.Credentials;

/** How {@link AgentBoundsTest} builds a master: with the bounds and the wiring of {@link GrpcServerLifecycle}. */
final class AgentBoundsFixture {

    private AgentBoundsFixture() {
    }

    /** The defaults, with join tokens from {@code tokensFile} and the given bounds. */
    static TaskgridConfig config(String tokensFile, int workersMax, int tokenCalls, long tokenBytes, long allBytes) {
        return TaskgridConfig.defaults().withOutputLimitBytes(1024 * 1024).withAuthentication(true, tokensFile)
                .withWorkersMax(workersMax).withTokenBounds(tokenCalls, tokenBytes).withMaxQueuedBytes(allBytes);
    }

    static Credentials credentials(TaskgridConfig config) {
        return new Credentials(config, null);
    }

    /** The agent service as the master serves it. */
    static <T extends ServerBuilder<T>> T serve(T builder, NodeService service, Credentials credentials) {
        return GrpcServerLifecycle.serveAgents(builder, service, credentials);
    }

    /** The limits the master puts on each of its connections. */
    static NettyServerBuilder limits(NettyServerBuilder builder, TaskgridConfig config) {
        GrpcServerLifecycle.keepalive(builder, config.keepAliveSeconds(), config.keepAliveTimeoutSeconds());
        return GrpcServerLifecycle.connectionLimits(builder, config.maxConnectionAgeSeconds(),
                config.maxConnectionAgeGraceSeconds());
    }
}
