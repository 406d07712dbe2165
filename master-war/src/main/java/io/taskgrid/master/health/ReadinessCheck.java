package io.taskgrid.master.health;

import io.taskgrid.master.grpc.GrpcServerLifecycle;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/** Ready once agents can connect: the gRPC server is serving. Launchers and load balancers wait on /health/ready. */
@Readiness
@ApplicationScoped
public class ReadinessCheck implements HealthCheck {

    @Inject
    GrpcServerLifecycle grpc;

    @Override
    public HealthCheckResponse call() {
        return HealthCheckResponse.named("grpc-server").status(grpc.isServing()).build();
    }
}
