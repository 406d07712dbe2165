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
 * Which master takes which call. Any master answers reads from the database, and a standby takes the changes a client
 * makes most, submissions, cancels and drains, storing them for the active master ({@code StandbyIntake}), which
 * carries them out at once; its worker list is the one the active master publishes. What stays with the active
 * master alone (API tokens and the secrets' keys, which live in this master's files) a standby refuses, saying which
 * master is active, as does a master that is starting, cut off from the database, or deposed, for every change and the
 * worker list. After authentication: an anonymous caller learns nothing about the cluster.
 */
@Provider
@Priority(Priorities.AUTHORIZATION + 50)
public class ActiveMasterFilter implements ContainerRequestFilter {

    @Inject
    ThisMaster thisMaster;

    @Override
    public void filter(ContainerRequestContext request) {
        String method = request.getMethod();
        boolean change = !HttpMethods.isRead(method);
        String path = request.getUriInfo().getPath();
        path = path.startsWith("/") ? path.substring(1) : path;
        boolean workers = path.startsWith("workers");
        if ((!change && !workers) || thisMaster.isActive()) {
            return;
        }
        if (thisMaster.state() == MasterRole.State.STANDBY && takenByStandby(method, path)) {
            return;
        }
        request.abortWith(Response.fromResponse(Problems.problem(503, "Service Unavailable", refusal(),
                request.getUriInfo())).header("Retry-After", "2").build());
    }

    /** The calls a standby takes for the active master: see {@code StandbyIntake}. */
    static boolean takenByStandby(String method, String path) {
        return switch (method) {
            case "POST" -> path.equals("tasks") || path.matches("workers/[^/]+/drain");
            case "DELETE" -> path.matches("tasks/[^/]+");
            case "GET", "HEAD" -> path.equals("workers");
            default -> false;
        };
    }

    private String refusal() {
        MasterRole.State state = thisMaster.state();
        String active = thisMaster.activeMaster().map(id -> "master " + id + " is active")
                .orElse("no master is active now");
        return switch (state) {
            case STANDBY -> "this master (" + thisMaster.id() + ") stands by; API tokens and secret keys are "
                    + "managed on the active master: " + active;
            case STARTING -> "this master is starting; try again";
            default -> "this master (" + thisMaster.id() + ") does not take changes now: " + thisMaster.why();
        };
    }
}
