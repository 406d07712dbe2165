package io.taskgrid.master.api;

import io.taskgrid.master.cluster.MasterRole;
import io.taskgrid.master.cluster.ThisMaster;
import io.taskgrid.master.http.HttpMethods;
import io.taskgrid.master.http.Problems;
import jakarta.annotation.Priority;
import jakarta.inject.Inject;
import jakarta.ws.rs.Priorities;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerRequestFilter;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.ext.Provider;

/**
 * Changes go to the active master only. A standby reads the same database and answers reads, but its memory holds no
 * live task and no agent: a task it accepted would wait unseen until it took over, and a cancel or drain it took would
 * reach no agent. So it refuses them, saying which master is active; a load balancer that routes by
 * {@code /health/ready} never sends them there. Worker lists come from the active master's memory and are refused
 * the same way. After authentication: an anonymous caller learns nothing about the cluster.
 */
@Provider
@Priority(Priorities.AUTHORIZATION + 50)
public class ActiveMasterFilter implements ContainerRequestFilter {

    @Inject
    ThisMaster thisMaster;

    @Override
    public void filter(ContainerRequestContext request) {
        boolean change = !HttpMethods.isRead(request.getMethod());
        String path = request.getUriInfo().getPath();
        boolean fromMemory = path.startsWith("workers") || path.startsWith("/workers");
        if ((!change && !fromMemory) || thisMaster.isActive()) {
            return;
        }
        request.abortWith(Response.fromResponse(Problems.problem(503, "Service Unavailable", refusal(),
                request.getUriInfo())).header("Retry-After", "2").build());
    }

    private String refusal() {
        MasterRole.State state = thisMaster.state();
        String active = thisMaster.activeMaster().map(id -> "master " + id + " is active")
                .orElse("no master is active now");
        return switch (state) {
            case STANDBY -> "this master (" + thisMaster.id() + ") stands by and takes no changes: " + active
                    + "; send changes there (a load balancer routes by /health/ready)";
            case STARTING -> "this master is starting; try again";
            default -> "this master (" + thisMaster.id() + ") does not take changes now: " + thisMaster.why();
        };
    }
}
