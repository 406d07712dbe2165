package io.taskgrid.it;

import io.taskgrid.it.cluster.ClusterConfig;
import io.taskgrid.it.cluster.LocalCluster;
import io.taskgrid.it.cluster.PostgresServer;
import io.taskgrid.it.cluster.ServerLayout;
import jakarta.json.Json;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.StringReader;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Readiness follows the database: the master on a real PostgreSQL of the test's own, which the test stops. The master
 * goes not-ready (503, DOWN, with the reason) while staying alive, and ready again once the database is back; a
 * task submitted during the outage is stored once it is, and nothing accepted before is lost. Ports 19394/19355 and
 * 19335 for PostgreSQL, apart from every other test's.
 */
class ReadinessOnPostgresIT {

    private static final Duration WAIT = Duration.ofSeconds(60);
    private static PostgresServer postgres;
    private static LocalCluster cluster;
    private static TaskgridClient api;

    @BeforeAll
    static void startOnPostgres() {
        assumeTrue(PostgresServer.installation().isPresent(), "PostgreSQL is not installed here (.ci/run installs it)");
        Path logs = Path.of(SharedCluster.property("taskgrid.log.dir"));
        postgres = PostgresServer.start(logs.resolve("postgres-readiness"), 19335);
        Path wlp = Path.of(SharedCluster.property("taskgrid.wlp.dir"));
        ServerLayout.copyOfBuildServer(wlp, "taskgrid-ready-pg", Map.of("taskgrid.db", "postgresql"), Map.of(
                "TASKGRID_DB_HOST", "127.0.0.1", "TASKGRID_DB_PORT", Integer.toString(postgres.port())));
        cluster = LocalCluster.start(ClusterConfig.builder(wlp, Path.of(SharedCluster.property("taskgrid.agent.jar")))
                .serverName("taskgrid-ready-pg").ports(19394, 19355).workers(1).baseWorkerId("rp")
                .reconnectDelay(Duration.ofSeconds(1)).logDir(logs.resolve("ready-pg-cluster"))
                .stateDir(logs.resolve("ready-pg-state")).build());
        api = new TaskgridClient(cluster.config().apiBase(), cluster.apiToken());
    }

    @AfterAll
    static void stop() {
        if (cluster != null) {
            cluster.close();
        }
        if (postgres != null) {
            postgres.close();
        }
    }

    private static JsonObject health(String path) {
        TaskgridClient.Reply reply = api.withToken(null).get(path);
        JsonObject body = Json.createReader(new StringReader(reply.body())).readObject();
        assertThat(reply.status()).as(path + " status matches its body").isEqualTo(
                body.getString("status").equals("UP") ? 200 : 503);
        return body;
    }

    private static JsonObject readyCheck(JsonObject body) {
        return body.getJsonArray("checks").getValuesAs(JsonObject.class).stream()
                .filter(c -> c.getString("name").equals("taskgrid-ready")).findFirst().orElseThrow();
    }

    @Test
    void readinessGoesDownWithTheDatabaseAndComesBackWithItLosingNothing() throws Exception {
        List<String> before = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            before.add(api.submitCmd("echo before " + i));
        }
        for (String id : before) {
            assertThat(api.awaitFinal(id, WAIT).getString("state")).isEqualTo("SUCCEEDED");
        }
        assertThat(health("/health/ready").getString("status")).isEqualTo("UP");

        Instant stopped = Instant.now();
        postgres.stopForNow();
        JsonObject down = poll(Duration.ofSeconds(30), Duration.ofMillis(200)).alias("readiness DOWN").until(
                () -> health("/health/ready"), body -> body.getString("status").equals("DOWN"));
        System.out.printf("readiness DOWN %d ms after PostgreSQL stopped%n",
                Duration.between(stopped, Instant.now()).toMillis());
        JsonObject data = readyCheck(down).getJsonObject("data");
        assertThat(data.getString("database")).startsWith("DOWN");
        assertThat(data.getString("grpc")).as("only the database is away").isEqualTo("UP");
        assertThat(health("/health/live").getString("status")).as("alive: a restart would not bring the database back")
                .isEqualTo("UP");

        // A submission during the outage waits for the database rather than failing at once.
        CompletableFuture<TaskgridClient.Reply> during = CompletableFuture.supplyAsync(() ->
                api.post("/tasks", "application/json", "{\"cmd\":\"echo during the outage\"}"));
        TimeUnit.SECONDS.sleep(3);
        assertThat(during).as("not answered while it cannot be stored").isNotDone();

        postgres.startAgain();
        poll(WAIT, Duration.ofMillis(200)).alias("readiness UP again").until(
                () -> health("/health/ready").getString("status").equals("UP"));
        TaskgridClient.Reply reply = during.get(60, TimeUnit.SECONDS);
        assertThat(reply.status()).as(reply.body()).isEqualTo(202);
        JsonObject ran = api.awaitFinal(reply.json().getString("id"), WAIT);
        assertThat(ran.getString("stdout")).isEqualTo("echo during the outage".substring(5) + "\n");
        for (int i = 0; i < before.size(); i++) {
            assertThat(api.task(before.get(i)).getString("stdout")).isEqualTo("before " + i + "\n");
        }
        assertThat(api.get("/tasks?limit=1000").json().getJsonArray("tasks")).hasSize(6);
    }
}
