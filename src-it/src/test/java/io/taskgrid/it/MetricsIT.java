package io.taskgrid.it;

import io.taskgrid.it.cluster.LocalCluster;
import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.Phase;
import io.taskgrid.proto.v1.StatusReport;
import io.taskgrid.proto.v1.Verdict;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.UUID;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code /metrics} scraped on the real cluster while tasks run: every count moves by what the test did, no more and no
 * less (the test waits for the cluster to be idle first, so nothing else moves them), and the gauges follow the queue.
 */
@ExtendWith(SharedCluster.class)
class MetricsIT {

    private static final Duration WAIT = Duration.ofSeconds(60);
    private final TaskgridClient api = SharedCluster.client();
    private final LocalCluster cluster = SharedCluster.cluster();

    private MetricsText scrape() {
        TaskgridClient.Reply reply = api.get("/metrics");
        assertThat(reply.status()).as(reply.body()).isEqualTo(200);
        assertThat(reply.contentType()).startsWith("text/plain").contains("version=0.0.4");
        return MetricsText.parse(reply.body());
    }

    /** Waits until no task is queued or in flight, and returns that scrape. */
    private MetricsText idle() {
        return poll(WAIT, Duration.ofMillis(200)).alias("the cluster is idle").until(this::scrape,
                m -> m.count("taskgrid_tasks_queued") == 0 && m.count("taskgrid_tasks_in_flight") == 0);
    }

    @Test
    void countsMoveByWhatRanAndWhatWasRefused() {
        MetricsText before = idle();
        assertThat(before.count("taskgrid_workers_connected")).isEqualTo(cluster.config().workers());
        assertThat(before.count("taskgrid_workers_draining")).isZero();

        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            ids.add(api.submitCmd("true"));
        }
        ids.add(api.submitCmd("exit 3"));
        ids.add(api.submitCmd("sleep 1"));
        String queued = api.submitCmd("sleep 30");
        for (String id : ids) {
            api.awaitFinal(id, WAIT);
        }
        assertThat(api.post("/tasks", "application/json", "{\"cmd\":").status()).isEqualTo(400);
        assertThat(api.post("/tasks", "text/plain", "echo").status()).isEqualTo(415);
        assertThat(api.post("/tasks", "application/json", "{\"cmd\":\"" + "x".repeat(1024 * 1024) + "\"}").status())
                .isEqualTo(413);
        String key = "metrics-" + UUID.randomUUID();
        assertThat(api.send(HttpRequest.newBuilder(URI.create(api.base() + "/tasks")).header("Idempotency-Key", key)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                        "{\"cmd\":\"true\"}")).build()).status()).isEqualTo(202);
        assertThat(api.send(HttpRequest.newBuilder(URI.create(api.base() + "/tasks")).header("Idempotency-Key", key)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                        "{\"cmd\":\"false\"}")).build()).status()).isEqualTo(422);
        assertThat(api.withToken(null).get("/metrics").status()).as("a token is needed").isEqualTo(401);
        assertThat(delete("/tasks/" + queued).status()).isIn(200, 202);
        api.awaitFinal(queued, WAIT);

        MetricsText after = idle();
        assertThat(delta(before, after, "taskgrid_tasks_submitted_total")).isEqualTo(9);
        assertThat(delta(before, after, "taskgrid_tasks_finished_total{state=\"SUCCEEDED\"}")).isEqualTo(7);
        assertThat(delta(before, after, "taskgrid_tasks_finished_total{state=\"FAILED\"}")).isEqualTo(1);
        assertThat(delta(before, after, "taskgrid_tasks_finished_total{state=\"CANCELLED\"}")).isEqualTo(1);
        assertThat(delta(before, after, "taskgrid_tasks_finished_total{state=\"LOST\"}")).isZero();
        assertThat(delta(before, after, "taskgrid_requests_refused_total{status=\"400\"}")).isEqualTo(1);
        assertThat(delta(before, after, "taskgrid_requests_refused_total{status=\"413\"}")).isEqualTo(1);
        assertThat(delta(before, after, "taskgrid_requests_refused_total{status=\"415\"}")).isEqualTo(1);
        assertThat(delta(before, after, "taskgrid_requests_refused_total{status=\"422\"}")).isEqualTo(1);
        assertThat(delta(before, after, "taskgrid_requests_refused_total{status=\"401\"}")).isEqualTo(1);
        assertThat(delta(before, after, "taskgrid_requests_refused_total{status=\"503\"}")).isZero();
        // Every task that ran started once and ran once; the cancelled one started too (it was running).
        assertThat(delta(before, after, "taskgrid_dispatch_latency_seconds_count")).isEqualTo(9);
        assertThat(delta(before, after, "taskgrid_task_run_seconds_count")).isEqualTo(9);
        assertThat(after.get("taskgrid_dispatch_latency_seconds_bucket{le=\"+Inf\"}"))
                .isEqualTo(after.get("taskgrid_dispatch_latency_seconds_count"));
        // The one-second sleep ran at least a second, and no task of this test ran longer than 30 s.
        assertThat(delta(before, after, "taskgrid_task_run_seconds_bucket{le=\"0.5\"}")).isLessThanOrEqualTo(8);
        assertThat(delta(before, after, "taskgrid_task_run_seconds_bucket{le=\"30\"}")).isEqualTo(9);
        assertThat(after.get("taskgrid_task_run_seconds_sum") - before.get("taskgrid_task_run_seconds_sum"))
                .isGreaterThanOrEqualTo(1.0);
    }

    @Test
    void theQueueAndInFlightGaugesFollowTheTasks() {
        idle();
        int workers = cluster.config().workers();
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < workers + 2; i++) {
            ids.add(api.submitCmd("sleep 3"));
        }
        MetricsText busy = poll(WAIT, Duration.ofMillis(100)).alias("every worker busy, two queued").until(
                this::scrape, m -> m.count("taskgrid_tasks_in_flight") == workers);
        assertThat(busy.count("taskgrid_tasks_queued")).isEqualTo(2);
        assertThat(busy.count("taskgrid_worker_slots_busy")).isEqualTo(workers);
        for (String id : ids) {
            api.awaitFinal(id, WAIT);
        }
        MetricsText done = idle();
        assertThat(done.count("taskgrid_worker_slots_busy")).isZero();
    }

    @Test
    void lostAttemptsAndRefusedReportsAreCounted() throws Exception {
        MetricsText before = idle();
        String id = api.submitCmd("sleep 30");
        String victim = api.awaitState(id, Set.of("RUNNING"), WAIT).getString("workerId");
        cluster.killAgent(victim);
        poll(Duration.ofSeconds(SharedCluster.LOST_AFTER_SECONDS + 30), Duration.ofMillis(200))
                .alias("the attempt of the killed agent is given up").until(this::scrape,
                        m -> m.count("taskgrid_attempts_lost_total") > before.count("taskgrid_attempts_lost_total"));
        assertThat(delta(before, scrape(), "taskgrid_attempts_lost_total")).isEqualTo(1);
        delete("/tasks/" + id);
        api.awaitFinal(id, WAIT);

        try (FakeAgent ghost = FakeAgent.register(cluster.config().grpcTarget(), cluster.joinToken(), "ghost", 1,
                List.of(), null)) {
            ghost.firstCommand();
            StatusReport report = StatusReport.newBuilder().setTaskId(id).setAttemptId(UUID.randomUUID().toString())
                    .setPhase(Phase.FINISHED).setOutcome(Outcome.EXITED).build();
            assertThat(ghost.report(report).getVerdict()).isEqualTo(Verdict.REFUSED);
            assertThat(ghost.report(report.toBuilder().setTaskId("not-an-id").build()).getVerdict())
                    .isEqualTo(Verdict.REFUSED);
        }
        MetricsText after = scrape();
        assertThat(delta(before, after, "taskgrid_reports_refused_total{reason=\"not_its_attempt\"}")).isEqualTo(1);
        assertThat(delta(before, after, "taskgrid_reports_refused_total{reason=\"invalid\"}")).isEqualTo(1);
    }

    /** The closing figure: how long a scrape takes on the running cluster (median and worst of 50, after 10). */
    @Test
    void theJvmAndTheProcessAreThereUnderTheNamesDashboardsUse() {
        MetricsText metrics = scrape();
        assertThat(metrics.get("jvm_memory_used_bytes{area=\"heap\"}")).isPositive();
        assertThat(metrics.get("jvm_threads_current")).as("Liberty, gRPC and the master's own").isGreaterThan(10);
        assertThat(metrics.get("process_open_fds")).isPositive();
        assertThat(metrics.get("process_cpu_seconds_total")).isPositive();
        double started = metrics.get("process_start_time_seconds");
        assertThat(started).as("the master started today").isBetween(System.currentTimeMillis() / 1000.0 - 86_400,
                System.currentTimeMillis() / 1000.0);
        assertThat(metrics.samples().keySet()).anyMatch(series -> series.startsWith("jvm_gc_collection_seconds_count"));
        assertThat(metrics.count("taskgrid_workers_connected")).as("the master's own names kept").isPositive();
    }

    @Test
    void aScrapeIsCheap() throws Exception {
        for (int i = 0; i < 10; i++) {
            scrape();
        }
        List<Double> millis = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            long start = System.nanoTime();
            TaskgridClient.Reply reply = api.get("/metrics");
            millis.add((System.nanoTime() - start) / 1e6);
            assertThat(reply.status()).isEqualTo(200);
        }
        Collections.sort(millis);
        String figure = String.format("metrics scrape over HTTP on the cluster, 50 scrapes: median %.2f ms, p90 %.2f ms, "
                + "max %.2f ms, %d bytes%n", millis.get(25), millis.get(45), millis.get(49), api.get("/metrics").body()
                .length());
        System.out.print(figure);
        Path out = Path.of(SharedCluster.property("taskgrid.log.dir"), "metrics-scrape.txt");
        Files.writeString(out, figure);
        assertThat(millis.get(25)).as("median scrape, ms").isLessThan(250);
    }

    private TaskgridClient.Reply delete(String path) {
        return api.send(HttpRequest.newBuilder(URI.create(api.base() + path)).DELETE().build());
    }

    private static long delta(MetricsText before, MetricsText after, String series) {
        return after.count(series) - before.count(series);
    }
}
