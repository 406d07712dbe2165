package io.taskgrid.master.api;

import io.taskgrid.master.cluster.ThisMaster;
import io.taskgrid.master.dispatch.ConnectedWorker;
import io.taskgrid.master.dispatch.DatabaseIntake;
import io.taskgrid.master.dispatch.PublishedWorkers;
import io.taskgrid.master.dispatch.WorkerRegistry;
import io.taskgrid.master.security.RequiresRole;
import io.taskgrid.master.security.Role;
import io.taskgrid.master.text.SafeText;
import io.taskgrid.proto.WorkerLimits;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.SecurityContext;
import org.eclipse.microprofile.openapi.annotations.Operation;
import org.eclipse.microprofile.openapi.annotations.enums.SchemaType;
import org.eclipse.microprofile.openapi.annotations.media.Content;
import org.eclipse.microprofile.openapi.annotations.media.Schema;
import org.eclipse.microprofile.openapi.annotations.parameters.Parameter;
import org.eclipse.microprofile.openapi.annotations.responses.APIResponse;
import org.eclipse.microprofile.openapi.annotations.tags.Tag;

import java.util.List;
import java.util.Optional;
import java.util.logging.Logger;

/** The workers connected right now. */
@Path("workers")
@Tag(name = "workers")
@ApplicationScoped
@Produces(MediaType.APPLICATION_JSON)
public class WorkerResource {

    private static final Logger LOG = Logger.getLogger(WorkerResource.class.getName());

    @Inject
    WorkerRegistry registry;

    @Inject
    ThisMaster thisMaster;

    @Inject
    DatabaseIntake intake;

    /** Workers in one page by default, and at most. */
    public static final int DEFAULT_LIMIT = 100;
    public static final int MAX_LIMIT = 1000;

    @GET
    @RequiresRole(Role.VIEWER)
    @Operation(operationId = "listWorkers", summary = "The agents connected now, a page at a time, in id order (viewer)")
    @APIResponse(responseCode = "200", description = "one page; pass next as cursor for the following one",
            content = @Content(mediaType = MediaType.APPLICATION_JSON, schema = @Schema(implementation = WorkerList.class)))
    @APIResponse(responseCode = "400", ref = "BadRequest")
    @APIResponse(responseCode = "401", ref = "Unauthorized")
    @APIResponse(responseCode = "403", ref = "Forbidden")
    public WorkerList list(@Parameter(description = "page size", schema = @Schema(type = SchemaType.INTEGER,
                                   minimum = "1", maximum = "1000", defaultValue = "100"))
                           @QueryParam("limit") String limit,
                           @Parameter(description = "the next value of the previous page")
                           @QueryParam("cursor") String cursor) {
        int size = parseLimit(limit);
        String after = parseCursor(cursor);
        if (!thisMaster.holdsEveryTask()) {
            List<PublishedWorkers.Seen> all = thisMaster.isActive() ? everyMastersWorkers() : intake.workers();
            List<PublishedWorkers.Seen> following = all.stream().filter(w -> after == null || w.id().compareTo(after) > 0)
                    .limit(size + 1L).toList();
            boolean more = following.size() > size;
            List<PublishedWorkers.Seen> page = more ? following.subList(0, size) : following;
            return new WorkerList(all.size(), page.stream().map(WorkerView::of).toList(),
                    more ? encodeCursor(page.get(page.size() - 1).id()) : null);
        }
        // One more than asked tells whether a next page exists; the registry hands out no more than that.
        List<ConnectedWorker> found = registry.page(after, size + 1);
        boolean more = found.size() > size;
        List<ConnectedWorker> page = more ? found.subList(0, size) : found;
        String next = more ? encodeCursor(page.get(page.size() - 1).id()) : null;
        return new WorkerList(registry.size(), page.stream().map(w -> WorkerView.of(w, thisMaster.id())).toList(), next);
    }

    /**
     * The workers of every master of the database: this master's as they are now, the others' as they last published
     * them (within {@code PublishedWorkers.FRESH}), in id order. A worker that moved lately may be listed under both;
     * this master's entry wins.
     */
    private List<PublishedWorkers.Seen> everyMastersWorkers() {
        java.util.Map<String, PublishedWorkers.Seen> byId = new java.util.TreeMap<>();
        for (PublishedWorkers.Seen seen : intake.workers()) {
            if (!seen.master().equals(thisMaster.id())) {
                byId.put(seen.id(), seen);
            }
        }
        for (ConnectedWorker worker : registry.all()) {
            byId.put(worker.id(), PublishedWorkers.seen(worker, thisMaster.id()));
        }
        return List.copyOf(byId.values());
    }

    private static int parseLimit(String limit) {
        return PageRequest.limit(limit, DEFAULT_LIMIT, MAX_LIMIT);
    }

    static String encodeCursor(String id) {
        return PageRequest.encodeCursor(id);
    }

    static String parseCursor(String cursor) {
        return PageRequest.cursor(cursor, WorkerLimits::isWorkerId);
    }

    /** No new task goes to the worker from now on; what it runs finishes and is reported. Lasts until it reconnects. */
    @POST
    @Path("{id}/drain")
    @RequiresRole(Role.OPERATOR)
    @Operation(operationId = "drainWorker", summary = "Send a worker no new task until it reconnects (operator)")
    @APIResponse(responseCode = "200", description = "the worker, draining",
            content = @Content(mediaType = MediaType.APPLICATION_JSON, schema = @Schema(implementation = WorkerView.class)))
    @APIResponse(responseCode = "401", ref = "Unauthorized")
    @APIResponse(responseCode = "403", ref = "Forbidden")
    @APIResponse(responseCode = "404", ref = "NotFound")
    public WorkerView drain(@Parameter(description = "the worker's id") @PathParam("id") String id,
                            @Context SecurityContext security) {
        if (!ActiveMasterFilter.changesHere(thisMaster)) {
            return intake.drain(id, security.getUserPrincipal().getName()).map(WorkerView::of)
                    .orElseThrow(() -> ApiProblem.notFound("no connected worker with id '" + SafeText.echo(id) + "'"));
        }
        Optional<ConnectedWorker> here = registry.get(id);
        if (here.isEmpty() && thisMaster.sharesDatabase()) {
            // Connected to another master: drained there, through the database.
            return intake.drain(id, security.getUserPrincipal().getName()).map(WorkerView::of)
                    .orElseThrow(() -> ApiProblem.notFound("no connected worker with id '" + SafeText.echo(id) + "'"));
        }
        ConnectedWorker worker = here
                .orElseThrow(() -> ApiProblem.notFound("no connected worker with id '" + SafeText.echo(id) + "'"));
        String by = security.getUserPrincipal().getName();
        if (worker.drain("drained by " + by, by)) {
            LOG.info(() -> "worker " + worker.id() + " drained by " + SafeText.oneLine(by, 128));
        }
        return WorkerView.of(worker, thisMaster.id());
    }
}
