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
 * Which master takes which call. Any master answers reads from the database, and a standby takes the changes: it
 * stores submissions, cancels and drains for the active master ({@code DatabaseIntake}), which carries them out at once;
 * its worker list is the one the active master publishes; API tokens live in the database and the secret key file is
 * shared, so a standby changes those itself. What stays with the active master alone, the re-seal of stored secrets
 * (which rewrites values the active master holds in memory), a standby refuses, saying which master is active, as does
 * a master that is starting, cut off from the database, or deposed, for every change and the worker list. After
 * authentication: an anonymous caller learns nothing about the cluster.
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

    /**
     * Whether a change goes to this master's own dispatcher (true) or, on a standby, through the database for the
     * active master (false). Any other master (starting, cut off, deposed, or active but a lease past its last renewal)
     * answers 503, as the filter did unless the master's state changed since: a change stored for an active master on
     * a database no other master reads would wait for no one.
     */
    static boolean changesHere(ThisMaster master) {
        if (master.isActive()) {
            return true;
        }
        if (master.state() == MasterRole.State.STANDBY) {
            return false;
        }
        throw ApiProblem.busy("this master does not take changes now; try again", 2);
    }

    /**
     * Whether a submission goes into this master's own queue (true) or through the database (false): on a database
     * masters share, every submission is stored for whichever master's agents have room (the caps are then counted
     * across the masters); otherwise as {@link #changesHere}.
     */
    static boolean submitsHere(ThisMaster master) {
        return changesHere(master) && !master.sharesDatabase();
    }

    /** The calls a standby takes for the active master: see {@code DatabaseIntake}. */
    static boolean takenByStandby(String method, String path) {
        return switch (method) {
            case "POST" -> path.equals("tasks") || path.matches("workers/[^/]+/drain") || path.equals("tokens")
                    || path.equals("secrets/keys");
            case "DELETE" -> path.matches("tasks/[^/]+") || path.matches("tokens/[^/]+");
            case "GET", "HEAD" -> path.equals("workers");
            default -> false;
        };
    }

    private String refusal() {
        MasterRole.State state = thisMaster.state();
        String active = thisMaster.activeMaster().map(id -> "master " + id + " is active")
                .orElse("no master is active now");
        return switch (state) {
            case STANDBY -> "this master (" + thisMaster.id() + ") stands by; stored secrets are re-sealed on the "
                    + "active master: " + active;
            case STARTING -> "this master is starting; try again";
            // A fixed reason per state: the role's own words (in its log and health data) may carry a driver's
            // message naming hosts, which a caller of any role would read here.
            case ACTIVE, SUSPENDED, AWAY -> "this master (" + thisMaster.id() + ") cannot renew its dispatch lease "
                    + "now and takes no change; try again, or another master: " + active;
            case DEPOSED -> "this master (" + thisMaster.id() + ") was deposed (another master holds the dispatch "
                    + "lease) and takes no change: " + active;
            default -> "this master (" + thisMaster.id() + ") is stopping and takes no change: " + active;
        };
    }
}
