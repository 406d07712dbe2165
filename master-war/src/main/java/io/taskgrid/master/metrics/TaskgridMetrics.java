package io.taskgrid.master.metrics;

import io.taskgrid.master.task.TaskState;

import java.time.Duration;
import java.time.LocalDateTime;

/**
 * The master's own counters and histograms, rendered at {@code /metrics} (with the gauges read at scrape time) in
 * Prometheus' text format.
 *
 * <p>Static, like a logger, on purpose. The events are counted where they happen, and several of those places are
 * objects made with {@code new} (the live tasks, the lost-attempt reaper, the group commit) or static helpers (the
 * problem+json builder); handing each of them a bean would change constructors that other work also changes, for no
 * gain. The class is loaded by the application's class loader, so a redeployed master counts from zero, as a restarted
 * one does, and Prometheus' {@code rate()} treats that as the counter reset it is. Nothing here depends on the rest
 * of the master: every other package may call it.
 *
 * <p>Not MicroProfile Metrics: on Open Liberty its {@code /metrics} is a web module of the server, guarded by the
 * server's administrator role and user registry, which cannot accept Taskgrid's own bearer tokens and roles; and
 * not every Jakarta EE server ships it any more. Counting with {@link java.util.concurrent.atomic.LongAdder}s costs
 * the hot path a few nanoseconds and the WAR no dependency.
 */
public final class TaskgridMetrics {

    /** Submitted to started: from a millisecond (a free worker) to minutes (a long queue). */
    static final long[] DISPATCH_BUCKETS_MILLIS = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000,
        30_000, 60_000, 300_000, 1_800_000};
    /** Started to finished: commands run from milliseconds ({@code true}) to the 7 days a timeout allows. */
    static final long[] RUN_BUCKETS_MILLIS = {5, 10, 50, 100, 500, 1_000, 5_000, 10_000, 30_000, 60_000, 300_000,
        900_000, 3_600_000, 14_400_000, 86_400_000, 604_800_000};

    public static final Counter TASKS_SUBMITTED = new Counter();
    public static final LabeledCounter TASKS_FINISHED = new LabeledCounter("state",
            TaskState.finished().stream().map(TaskState::name).toArray(String[]::new));
    /** Every problem+json answer of the REST API, by status. */
    public static final LabeledCounter REQUESTS_REFUSED = new LabeledCounter("status",
            "400", "401", "403", "404", "409", "413", "415", "422", "429", "503");
    /** Attempts whose worker went away and did not come back within the grace period. */
    public static final Counter ATTEMPTS_LOST = new Counter();
    /** Agent reports the master did not take, by why. */
    public static final LabeledCounter REPORTS_REFUSED = new LabeledCounter("reason",
            "invalid", "not_registered", "not_its_attempt", "not_stored", "busy");
    public static final Histogram DISPATCH_LATENCY = new Histogram(DISPATCH_BUCKETS_MILLIS);
    public static final Histogram RUN_TIME = new Histogram(RUN_BUCKETS_MILLIS);

    private TaskgridMetrics() {
    }

    /** The task's process started (its STARTED report was taken). */
    public static void taskStarted(LocalDateTime submittedAt, LocalDateTime startedAt) {
        if (submittedAt != null && startedAt != null) {
            DISPATCH_LATENCY.observeMillis(Duration.between(submittedAt, startedAt).toMillis());
        }
    }

    /** The task reached a final state; its run time counts when a process ran. */
    public static void taskEnded(String state, LocalDateTime startedAt, LocalDateTime finishedAt) {
        TASKS_FINISHED.inc(state);
        if (startedAt != null && finishedAt != null) {
            RUN_TIME.observeMillis(Duration.between(startedAt, finishedAt).toMillis());
        }
    }
}
