package io.taskgrid.master.api;

import io.taskgrid.master.cluster.ThisMaster;
import io.taskgrid.master.dispatch.Dispatcher;
import io.taskgrid.master.metrics.TaskgridMetrics;
import io.taskgrid.master.security.RequiresRole;
import io.taskgrid.master.security.Role;
import io.taskgrid.master.task.TaskState;
import io.taskgrid.master.task.TaskStore;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import org.eclipse.microprofile.openapi.annotations.Operation;
import org.eclipse.microprofile.openapi.annotations.media.Content;
import org.eclipse.microprofile.openapi.annotations.media.Schema;
import org.eclipse.microprofile.openapi.annotations.responses.APIResponse;
import org.eclipse.microprofile.openapi.annotations.tags.Tag;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Counts of tasks by state, for dashboards: what the overview of the web UI polls. One grouped count over the state
 * index, shared by every caller for {@link #FRESH_FOR}, so any number of open dashboards cost the database one query a
 * second at most. (A path of its own: JAX-RS prefers this literal path to {@code tasks/{id}}.)
 */
@Path("tasks/counts")
@Tag(name = "tasks")
@ApplicationScoped
@Produces(MediaType.APPLICATION_JSON)
public class TaskCountsResource {

    static final Duration FRESH_FOR = Duration.ofSeconds(1);

    @Inject
    TaskStore store;

    @Inject
    Dispatcher dispatcher;

    @Inject
    ThisMaster thisMaster;

    private final Clock clock = Clock.systemUTC();

    private volatile TaskCounts last;

    @GET
    @RequiresRole(Role.VIEWER)
    @Operation(operationId = "countTasks", summary = "Tasks by state and the queue depth (viewer)")
    @APIResponse(responseCode = "200", description = "every state with its count",
            content = @Content(mediaType = MediaType.APPLICATION_JSON, schema = @Schema(implementation = TaskCounts.class)))
    @APIResponse(responseCode = "401", ref = "Unauthorized")
    @APIResponse(responseCode = "403", ref = "Forbidden")
    public TaskCounts counts() {
        TaskCounts seen = last;
        Instant now = clock.instant();
        if (seen != null && seen.at().plus(FRESH_FOR).isAfter(now)) {
            return seen;
        }
        synchronized (this) {
            seen = last;
            if (seen != null && seen.at().plus(FRESH_FOR).isAfter(clock.instant())) {
                return seen;
            }
            Map<String, Long> counts = new LinkedHashMap<>();
            long total = 0;
            for (Map.Entry<TaskState, Long> entry : store.countByState().entrySet()) {
                counts.put(entry.getKey().name(), entry.getValue());
                total += entry.getValue();
            }
            long ended = TaskgridMetrics.TASKS_FINISHED.snapshot().values().stream().mapToLong(Long::longValue).sum();
            // The queue is in the active master's memory; any other master reads its depth from the database.
            int queued = thisMaster.holdsEveryTask() ? dispatcher.queued()
                    : (int) Math.min(Integer.MAX_VALUE, counts.getOrDefault(TaskState.QUEUED.name(), 0L));
            last = new TaskCounts(counts, total, queued, ended, clock.instant());
            return last;
        }
    }
}
