package io.taskgrid.it;

import io.taskgrid.it.cluster.InitialCredentials;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The same master.war on WildFly 39 ({@code standalone-microprofile}), set up with nothing but the steps of
 * docs/operations.md ("Deploying on WildFly", run here as written, with this test's folder, ports and file paths),
 * and a real agent running a task through it. It failed at deploy while the WAR looked its data source up by a name
 * only Liberty and Payara resolve; WildFly also makes beans on threads of its own (health probes come on its
 * management thread) and writes JSON with Jackson unless told otherwise, which the checks below would show.
 */
class WildFlyDeploymentIT {

    private static final int HTTP_PORT = 19192;
    private static final int MANAGEMENT_PORT = 19190;
    private static final int GRPC_PORT = 19151;

    @TempDir
    static Path home;

    private static Process wildfly;
    private static Process agent;

    @BeforeAll
    static void deployAsTheDocumentationSays() throws Exception {
        String block = DocBlocks.block(DocBlocks.page(OperatorDeploymentIT.OPERATIONS_PAGE), "## Deploying on WildFly");
        Path checkout = home.resolve("checkout");
        Files.createDirectories(checkout.resolve("master-war/target"));
        Files.copy(Path.of(SharedCluster.property("taskgrid.project.dir"), "master-war/target/master.war"),
                checkout.resolve("master-war/target/master.war"));
        String script = block
                .replace("$HOME/taskgrid-wildfly", home.resolve("taskgrid").toString())
                .replace("unzip -q wildfly-dist-39.0.1.Final.zip",
                        "unzip -q " + SharedCluster.property("taskgrid.wildfly.zip"))
                .replace("-Djboss.http.port=9092", "-Djboss.http.port=" + HTTP_PORT)
                .replace("-Djboss.management.http.port=9990", "-Djboss.management.http.port=" + MANAGEMENT_PORT)
                .replace("TASKGRID_GRPC_PORT=50051", "TASKGRID_GRPC_PORT=" + GRPC_PORT);
        // The last line starts WildFly in the foreground; exec so that stopping the script stops the server.
        script = script.replace("TASKGRID_GRPC_PORT=" + GRPC_PORT + " bin/standalone.sh",
                "TASKGRID_GRPC_PORT=" + GRPC_PORT + " exec bin/standalone.sh");
        assertThat(script).as("the block as the test runs it").contains("exec bin/standalone.sh",
                "-Djboss.http.port=" + HTTP_PORT, "-Djboss.management.http.port=" + MANAGEMENT_PORT);
        Path state = home.resolve("taskgrid");
        wildfly = DocumentedServer.start("wildfly", script, checkout, home, state, HTTP_PORT);
        agent = DocumentedServer.agent("wildfly", GRPC_PORT, home, state);
    }

    @AfterAll
    static void stop() throws Exception {
        DocumentedServer.stop(agent, wildfly);
    }

    private static TaskgridClient api() {
        return new TaskgridClient("http://localhost:" + HTTP_PORT,
                InitialCredentials.read(home.resolve("taskgrid")).operatorToken());
    }

    @Test
    void theWarRunsATaskOnWildFlyWithARealAgentAndKeepsItInItsDataSource() {
        TaskgridClient api = api();
        poll(Duration.ofSeconds(60), Duration.ofMillis(100)).until(() -> api.workers().size() == 1);
        String id = api.submitCmd("echo on wildfly");
        JsonObject done = api.awaitFinal(id, Duration.ofSeconds(60));
        assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
        assertThat(done.getString("stdout")).isEqualTo("on wildfly\n");
        assertThat(done.getString("workerId")).isEqualTo("wildfly-1");
        // JSON-B's form, not Jackson's: a timestamp is an ISO-8601 string, not a number.
        assertThat(done.getString("submittedAt")).matches("\\d{4}-\\d\\d-\\d\\dT.*Z");
        JsonObject listed = api.get("/tasks?limit=1").json().getJsonArray("tasks").getJsonObject(0);
        assertThat(listed.getString("id")).isEqualTo(id);
        // In the data source of the documented steps, where the JDBC writes and the JPA reads both went.
        assertThat(home.resolve("taskgrid/taskgrid-db/taskgrid.mv.db")).exists();
        assertThat(api.withToken(null).get("/workers").status()).isEqualTo(401);
    }

    @Test
    void healthIsOnWildFlysManagementInterfaceAndMetricsAndOpenApiBesideTheApi() {
        TaskgridClient management = new TaskgridClient("http://localhost:" + MANAGEMENT_PORT, null);
        poll(Duration.ofSeconds(60), Duration.ofMillis(250)).until(() -> management.get("/health/ready").status() == 200);
        assertThat(management.get("/health/ready").body()).contains("\"taskgrid-ready\"", "\"database\":\"UP\"");
        assertThat(management.get("/health/live").body()).contains("\"taskgrid-dispatcher\"");
        TaskgridClient api = api();
        TaskgridClient.Reply metrics = api.get("/metrics");
        assertThat(metrics.status()).as(metrics.body()).isEqualTo(200);
        assertThat(MetricsText.parse(metrics.body()).samples()).containsKey("taskgrid_tasks_submitted_total");
        assertThat(api.withToken(null).get("/metrics").status()).isEqualTo(401);
        assertThat(api.withToken(null).get("/openapi").body()).contains("/tasks/{id}/output");
        TaskgridClient.Reply page = api.withToken(null).get("/ui/");
        assertThat(page.status()).isEqualTo(200);
        assertThat(page.header("Content-Security-Policy")).contains("default-src 'self'");
    }
}
