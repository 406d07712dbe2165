package io.taskgrid.master.health;

import io.taskgrid.master.grpc.GrpcServerLifecycle;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Startup;

import java.util.Optional;

/**
 * Started once the start sequence is through: security settings checked, the schema migrated, the unfinished tasks
 * taken over, the gRPC port open. Until then an orchestrator should not judge liveness (a migration of a large
 * database takes a while); after that it never goes back to DOWN, which is what tells it apart from readiness.
 */
@Startup
@ApplicationScoped
public class StartupCheck implements HealthCheck {

    @Inject
    GrpcServerLifecycle grpc;

    @Override
    public HealthCheckResponse call() {
        return new HealthCheckResponse("taskgrid-started", grpc.hasStarted() ? HealthCheckResponse.Status.UP
                : HealthCheckResponse.Status.DOWN, Optional.empty());
    }
}
