package io.taskgrid.it;

import io.taskgrid.it.cluster.ClusterConfig;
import io.taskgrid.it.cluster.LocalCluster;
import io.taskgrid.it.cluster.ServerLayout;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Retention on a master of its own with a short one: {@code taskgrid.retention.days=0.0001} (8.6 s), checked every
 * second. A finished task goes, with its Idempotency-Key; a running and a queued task, older than that, stay; the
 * count is logged and exported. The same master opens {@code /metrics} to scrapers
 * ({@code taskgrid.metrics.public=true}) and nothing else. Ports 19393/19353, apart from every other test's.
 */
class RetentionIT {

    private static final Duration WAIT = Duration.ofSeconds(60);
    private static LocalCluster cluster;
    private static TaskgridClient api;
    private static Path logs;

    @BeforeAll
    static void start() {
        logs = Path.of(SharedCluster.property("taskgrid.log.dir")).resolve("retention-cluster");
        Path wlp = Path.of(SharedCluster.property("taskgrid.wlp.dir"));
        ServerLayout.copyOfBuildServer(wlp, "taskgrid-retention", Map.of(), Map.of());
        cluster = LocalCluster.start(ClusterConfig.builder(wlp, Path.of(SharedCluster.property("taskgrid.agent.jar")))
                .serverName("taskgrid-retention").ports(19393, 19353).workers(1).baseWorkerId("rt")
                .reconnectDelay(Duration.ofSeconds(1)).logDir(logs).stateDir(logs.resolve("state"))
                .masterEnv("TASKGRID_RETENTION_DAYS", "0.0001")
                .masterEnv("TASKGRID_RETENTION_INTERVAL_SECONDS", "1")
                .masterEnv("TASKGRID_METRICS_PUBLIC", "true")
                .build());
        api = new TaskgridClient(cluster.config().apiBase(), cluster.apiToken());
    }

    @AfterAll
    static void stop() {
        if (cluster != null) {
            cluster.close();
        }
    }

    private static TaskgridClient.Reply submitWithKey(String key, String body) {
        return api.send(HttpRequest.newBuilder(URI.create(api.base() + "/tasks")).header("Idempotency-Key", key)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build());
    }

    private static long deletedSoFar() {
        TaskgridClient.Reply reply = api.withToken(null).get("/metrics");
        assertThat(reply.status()).as("public metrics: " + reply.body()).isEqualTo(200);
        return MetricsText.parse(reply.body()).count("taskgrid_retention_deleted_total");
    }

    @Test
    void finishedTasksOlderThanTheRetentionGoWithTheirKeysAndUnfinishedOnesStay() throws Exception {
        long deletedBefore = deletedSoFar();
        long logFrom = Files.size(logs.resolve("master.log"));
        TaskgridClient.Reply first = submitWithKey("retention-key", "{\"cmd\":\"echo old\"}");
        assertThat(first.status()).isEqualTo(202);
        String finished = first.json().getString("id");
        assertThat(api.awaitFinal(finished, WAIT).getString("state")).isEqualTo("SUCCEEDED");
        String running = api.submitCmd("sleep 60");
        api.awaitState(running, Set.of("RUNNING"), WAIT);
        String queued = api.submitCmd("echo waits behind the sleep");

        poll(Duration.ofSeconds(40), Duration.ofMillis(250)).alias("the finished task is deleted")
                .until(() -> api.get("/tasks/" + finished).status() == 404);
        assertThat(deletedSoFar() - deletedBefore).as("exactly the one finished task").isEqualTo(1);

        // Older than the retention by now, but not finished: both stay.
        TaskgridClient.sleep(9_000);
        assertThat(api.state(running)).isEqualTo("RUNNING");
        // Queued, or held by the busy agent as its prefetch: unfinished either way.
        assertThat(api.state(queued)).isIn("QUEUED", "ASSIGNED");
        assertThat(api.get("/tasks?limit=1000").json().getJsonArray("tasks")).hasSize(2);

        // Its Idempotency-Key went with it: the same request makes a new task rather than a replay.
        TaskgridClient.Reply again = submitWithKey("retention-key", "{\"cmd\":\"echo old\"}");
        assertThat(again.status()).as(again.body()).isEqualTo(202);
        assertThat(again.json().getString("id")).isNotEqualTo(finished);

        String log = Files.readString(logs.resolve("master.log"));
        assertThat(log.substring((int) Math.min(logFrom, log.length()))).contains("retention: deleted 1 task(s)");

        // Cleaning up: the sleep is cancelled; then the queued tasks run, and go too, later.
        assertThat(api.send(HttpRequest.newBuilder(URI.create(api.base() + "/tasks/" + running)).DELETE().build())
                .status()).isEqualTo(202);
        api.awaitFinal(running, WAIT);
    }

    @Test
    void onlyMetricsAreOpenWithoutAToken() {
        TaskgridClient anonymous = api.withToken(null);
        assertThat(anonymous.get("/metrics").status()).isEqualTo(200);
        assertThat(anonymous.get("/tasks").status()).isEqualTo(401);
        assertThat(anonymous.get("/workers").status()).isEqualTo(401);
        assertThat(anonymous.post("/metrics", "text/plain", "").status()).as("GET only").isIn(401, 405);
        assertThat(api.withToken("not-a-token").get("/metrics").status()).as("a token sent is checked").isEqualTo(401);
        assertThat(api.get("/metrics").status()).isEqualTo(200);
    }
}
