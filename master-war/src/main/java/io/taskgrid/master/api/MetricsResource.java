package io.taskgrid.master.api;

import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.instrumentation.jvm.JvmBufferPoolMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmClassLoadingMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmGarbageCollectorMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmMemoryMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmRuntimeInfoMetric;
import io.prometheus.metrics.instrumentation.jvm.JvmThreadsMetrics;
import io.prometheus.metrics.instrumentation.jvm.ProcessMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.taskgrid.master.dispatch.ConnectedWorker;
import io.taskgrid.master.dispatch.Dispatcher;
import io.taskgrid.master.dispatch.WorkerRegistry;
import io.taskgrid.master.metrics.PrometheusText;
import io.taskgrid.master.metrics.TaskgridMetrics;
import io.taskgrid.master.security.RequiresRole;
import io.taskgrid.master.security.Role;
import io.taskgrid.master.task.GroupCommit;
import io.taskgrid.master.task.Retention;
import io.taskgrid.master.task.TaskStore;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import org.eclipse.microprofile.openapi.annotations.Operation;
import org.eclipse.microprofile.openapi.annotations.enums.SchemaType;
import org.eclipse.microprofile.openapi.annotations.media.Content;
import org.eclipse.microprofile.openapi.annotations.media.Schema;
import org.eclipse.microprofile.openapi.annotations.responses.APIResponse;
import org.eclipse.microprofile.openapi.annotations.tags.Tag;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The master's metrics for Prometheus. A resource of the API, not of the server, so that it takes Taskgrid's own
 * tokens and roles like every other read ({@code taskgrid.metrics.public} opens it alone to a scraper without one).
 * It lives beside the other resources so that the check that every endpoint declares its role covers it too.
 *
 * <p>A scrape reads counters and in-memory gauges only: no query, no lock the dispatcher holds for long, so
 * scraping every few seconds costs the master next to nothing and works while the database is away.
 */
@Path("metrics")
@Tag(name = "metrics")
@ApplicationScoped
public class MetricsResource {

    @Inject
    Dispatcher dispatcher;

    @Inject
    WorkerRegistry registry;

    @Inject
    TaskStore store;

    @Inject
    Retention retention;

    /**
     * The JVM's and the process's own figures, which operators look for first (heap and its pools, GC time, threads,
     * classes, buffer pools, CPU seconds, open and most file descriptors, resident memory, start time), from the
     * Prometheus Java client under its standard names ({@code jvm_*}, {@code process_*}), so that the usual dashboards
     * work unchanged. Each is read from the JVM at the scrape; none registers a listener with the JVM, which would
     * outlive the application on a server that redeploys it.
     */
    private final PrometheusRegistry jvm = jvmRegistry();

    static PrometheusRegistry jvmRegistry() {
        PrometheusRegistry registry = new PrometheusRegistry();
        JvmMemoryMetrics.builder().register(registry);
        JvmGarbageCollectorMetrics.builder().register(registry);
        JvmThreadsMetrics.builder().register(registry);
        JvmClassLoadingMetrics.builder().register(registry);
        JvmBufferPoolMetrics.builder().register(registry);
        JvmRuntimeInfoMetric.builder().register(registry);
        ProcessMetrics.builder().register(registry);
        return registry;
    }

    @GET
    @Produces(MediaType.TEXT_PLAIN)
    @RequiresRole(Role.VIEWER)
    @Operation(operationId = "scrapeMetrics", summary = "Metrics in Prometheus text format 0.0.4 (viewer)",
            description = "With taskgrid.metrics.public=true this endpoint alone answers without a token.")
    @APIResponse(responseCode = "200", description = "the master's counters, gauges and histograms",
            content = @Content(mediaType = PrometheusText.CONTENT_TYPE, schema = @Schema(type = SchemaType.STRING)))
    @APIResponse(responseCode = "401", ref = "Unauthorized")
    @APIResponse(responseCode = "403", ref = "Forbidden")
    public Response scrape() {
        return Response.ok(render(), PrometheusText.CONTENT_TYPE).build();
    }

    String render() {
        List<ConnectedWorker> workers = registry.all();
        long draining = workers.stream().filter(ConnectedWorker::isDraining).count();
        long slots = workers.stream().mapToLong(ConnectedWorker::slots).sum();
        long busy = workers.stream().mapToLong(ConnectedWorker::running).sum();
        PrometheusText text = new PrometheusText()
                .counter("taskgrid_tasks_submitted_total", "Tasks accepted (stored QUEUED) by POST /tasks.",
                        TaskgridMetrics.TASKS_SUBMITTED.get())
                .counter("taskgrid_tasks_finished_total", "Tasks that reached a final state, by that state.",
                        TaskgridMetrics.TASKS_FINISHED)
                .counter("taskgrid_requests_refused_total",
                        "REST requests answered with an error (problem+json), by HTTP status.",
                        TaskgridMetrics.REQUESTS_REFUSED)
                .gauge("taskgrid_tasks_queued", "Tasks waiting for a worker.", dispatcher.queued())
                .gauge("taskgrid_tasks_in_flight", "Tasks assigned to a worker or running.", dispatcher.inFlight())
                .gauge("taskgrid_workers_connected", "Agents connected now.", workers.size())
                .gauge("taskgrid_workers_draining", "Connected agents that take no new task.", draining)
                .gauge("taskgrid_worker_slots", "Slots of the connected agents.", slots)
                .gauge("taskgrid_worker_slots_busy", "Slots of the connected agents holding an attempt.", busy)
                .counter("taskgrid_attempts_lost_total",
                        "Attempts whose worker went away and did not come back within the grace period.",
                        TaskgridMetrics.ATTEMPTS_LOST.get())
                .counter("taskgrid_reports_refused_total", "Agent status reports the master did not take, by reason.",
                        TaskgridMetrics.REPORTS_REFUSED)
                .histogram("taskgrid_dispatch_latency_seconds", "From submission to the start of the process.",
                        TaskgridMetrics.DISPATCH_LATENCY)
                .histogram("taskgrid_task_run_seconds", "From the start of the process to the final state.",
                        TaskgridMetrics.RUN_TIME)
                .counter("taskgrid_retention_deleted_total",
                        "Finished tasks deleted because they were older than taskgrid.retention.days.",
                        retention.deletedTotal());
        GroupCommit writer = store.writer();
        if (writer != null) {
            long since = writer.unavailableSince();
            text.counter("taskgrid_db_commits_total", "Transactions committed by the group-commit writer.",
                    writer.commits())
                    .gauge("taskgrid_db_write_backlog", "Changes waiting for the writer.", writer.backlog())
                    .gauge("taskgrid_db_unavailable_seconds",
                            "How long the database has refused commits (0 while it takes them).",
                            since == 0 ? 0 : TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - since));
        }
        return text + jvmText();
    }

    private String jvmText() {
        ByteArrayOutputStream out = new ByteArrayOutputStream(16 * 1024);
        try {
            PrometheusTextFormatWriter.create().write(out, jvm.scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
