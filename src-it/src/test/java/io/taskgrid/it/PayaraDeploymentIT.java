package io.taskgrid.it;

import io.taskgrid.it.cluster.InitialCredentials;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The same master.war on a second Jakarta EE 10 server, Payara Micro 6, set up with nothing but the steps of
 * docs/operations.md ("Deploying on Payara Micro", run here as written, with this test's folder, ports and file
 * paths), and a real agent running a task through it.
 */
class PayaraDeploymentIT {

    private static final int HTTP_PORT = 19092;
    private static final int GRPC_PORT = 19051;

    @TempDir
    static Path home;

    private static Process payara;
    private static Process agent;

    @BeforeAll
    static void deployAsTheDocumentationSays() throws Exception {
        String block = DocBlocks.block(DocBlocks.page(OperatorDeploymentIT.OPERATIONS_PAGE), "## Deploying on Payara Micro");
        String script = block
                .replace("$HOME/taskgrid-payara", home.resolve("taskgrid").toString())
                .replace("payara-micro-6.2025.10.jar", SharedCluster.property("taskgrid.payara.jar"))
                .replace("master-war/target/master.war", Path.of(SharedCluster.property("taskgrid.project.dir"),
                        "master-war/target/master.war").toString())
                .replace("--port 9092", "--port " + HTTP_PORT)
                .replace("TASKGRID_GRPC_PORT=50051", "TASKGRID_GRPC_PORT=" + GRPC_PORT);
        Path state = home.resolve("taskgrid");
        payara = DocumentedServer.start("payara", script, null, home, state, HTTP_PORT);
        agent = DocumentedServer.agent("payara", GRPC_PORT, home, state);
    }

    @AfterAll
    static void stop() throws Exception {
        DocumentedServer.stop(agent, payara);
    }

    @Test
    void theWarRunsATaskOnPayaraMicroWithARealAgent() {
        InitialCredentials credentials = InitialCredentials.read(home.resolve("taskgrid"));
        TaskgridClient api = new TaskgridClient("http://localhost:" + HTTP_PORT, credentials.operatorToken());
        poll(Duration.ofSeconds(60), Duration.ofMillis(100)).until(() -> api.workers().size() == 1);
        JsonObject done = api.awaitFinal(api.submitCmd("echo on payara"), Duration.ofSeconds(60));
        assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
        assertThat(done.getString("stdout")).isEqualTo("on payara\n");
        assertThat(done.getString("workerId")).isEqualTo("payara-1");
        assertThat(home.resolve("taskgrid/taskgrid-db/taskgrid.mv.db")).exists();
        assertThat(api.withToken(null).get("/workers").status()).isEqualTo(401);
    }

    /** What an operator wires up (metrics, health, the API's description) works on Payara too, not only on Liberty. */
    @Test
    void metricsHealthAndTheOpenApiDocumentAreServedOnPayaraToo() {
        InitialCredentials credentials = InitialCredentials.read(home.resolve("taskgrid"));
        TaskgridClient api = new TaskgridClient("http://localhost:" + HTTP_PORT, credentials.operatorToken());
        TaskgridClient.Reply metrics = api.get("/metrics");
        assertThat(metrics.status()).as(metrics.body()).isEqualTo(200);
        assertThat(MetricsText.parse(metrics.body()).samples()).containsKey("taskgrid_tasks_submitted_total");
        assertThat(api.withToken(null).get("/metrics").status()).as("Taskgrid's /metrics, which needs a token")
                .isEqualTo(401);
        assertThat(api.withToken(null).get("/health/ready").status()).isEqualTo(200);
        assertThat(api.withToken(null).get("/health/live").status()).isEqualTo(200);
        assertThat(api.withToken(null).get("/openapi").body()).contains("/tasks/{id}/output");
    }

    /** The dashboard's files are served on Payara as on Liberty (by the WAR's own filter), with the same headers. */
    @Test
    void theDashboardIsServedOnPayaraToo() {
        InitialCredentials credentials = InitialCredentials.read(home.resolve("taskgrid"));
        TaskgridClient anonymous = new TaskgridClient("http://localhost:" + HTTP_PORT, null);
        TaskgridClient.Reply page = anonymous.get("/ui/");
        assertThat(page.status()).isEqualTo(200);
        assertThat(page.contentType()).startsWith("text/html");
        assertThat(page.header("Content-Security-Policy")).contains("default-src 'self'");
        TaskgridClient.Reply script = anonymous.get("/ui/js/main.js");
        assertThat(script.status()).isEqualTo(200);
        assertThat(script.contentType()).startsWith("text/javascript");
        assertThat(anonymous.withToken(credentials.operatorToken()).get("/me").json().getString("role")).isEqualTo("operator");
        assertThat(anonymous.get("/tasks").status()).isEqualTo(401);
    }
}
