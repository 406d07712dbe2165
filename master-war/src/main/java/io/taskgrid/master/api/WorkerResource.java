package io.taskgrid.master.api;

import io.taskgrid.master.dispatch.WorkerRegistry;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;

import java.util.List;

/** The workers connected right now. */
@Path("workers")
@ApplicationScoped
@Produces(MediaType.APPLICATION_JSON)
public class WorkerResource {

    @Inject
    WorkerRegistry registry;

    @GET
    public WorkerList list() {
        List<WorkerView> workers = registry.all().stream().map(WorkerView::of).toList();
        return new WorkerList(workers.size(), workers);
    }
}
