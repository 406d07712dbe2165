package io.taskgrid.master.api;

import io.taskgrid.master.dispatch.ConnectedWorker;
import io.taskgrid.master.dispatch.WorkerRegistry;
import io.taskgrid.master.security.RequiresRole;
import io.taskgrid.master.security.Role;
import io.taskgrid.master.text.SafeText;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.SecurityContext;

import java.util.List;

/** The workers connected right now. */
@Path("workers")
@ApplicationScoped
@Produces(MediaType.APPLICATION_JSON)
public class WorkerResource {

    @Inject
    WorkerRegistry registry;

    @GET
    @RequiresRole(Role.VIEWER)
    public WorkerList list() {
        List<WorkerView> workers = registry.all().stream().map(WorkerView::of).toList();
        return new WorkerList(workers.size(), workers);
    }

    /** No new task goes to the worker from now on; what it runs finishes and is reported. Lasts until it reconnects. */
    @POST
    @Path("{id}/drain")
    @RequiresRole(Role.OPERATOR)
    public WorkerView drain(@PathParam("id") String id, @Context SecurityContext security) {
        ConnectedWorker worker = registry.get(id)
                .orElseThrow(() -> ApiProblem.notFound("no connected worker with id '" + SafeText.echo(id) + "'"));
        worker.drain("drained by " + security.getUserPrincipal().getName());
        return WorkerView.of(worker);
    }
}
