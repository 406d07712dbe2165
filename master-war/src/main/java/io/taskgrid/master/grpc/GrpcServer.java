package io.taskgrid.master.grpc;

import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerServiceDefinition;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * Starts and stops the gRPC server around the services it is given. It takes its {@link ServerBuilder} so that a test
 * can hand it an in-process one, and the application a Netty one bound to the configured address.
 */
public class GrpcServer {

    private static final Logger LOG = Logger.getLogger(GrpcServer.class.getName());

    private final Server server;

    public GrpcServer(ServerBuilder<?> builder, ServerServiceDefinition... services) {
        for (ServerServiceDefinition service : services) {
            builder.addService(service);
        }
        this.server = builder.build();
    }

    public GrpcServer start() {
        try {
            server.start();
        } catch (IOException e) {
            throw new UncheckedIOException("gRPC server could not start: " + e.getMessage(), e);
        }
        return this;
    }

    /** The port the server listens on (useful when it was asked for any free port). */
    public int port() {
        return server.getPort();
    }

    public boolean isServing() {
        return !server.isShutdown() && !server.isTerminated();
    }

    /** Stops taking calls, gives running calls {@code graceMillis} to end, then cancels them. */
    public void stop(long graceMillis) {
        server.shutdown();
        try {
            if (!server.awaitTermination(graceMillis, TimeUnit.MILLISECONDS)) {
                server.shutdownNow();
                server.awaitTermination(graceMillis, TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            server.shutdownNow();
            Thread.currentThread().interrupt();
        }
        LOG.info("gRPC server stopped");
    }
}
