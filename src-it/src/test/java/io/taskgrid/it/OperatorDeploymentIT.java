package io.taskgrid.it;

import io.taskgrid.it.cluster.InitialCredentials;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Deploys master.war by running the deployment steps of docs/operations.md, "Deploying master.war on your own Liberty"
 * (a new Liberty server, the files of server-config, the WAR in apps/, the H2 jar in jdbc/), sets ports and listen
 * address in server.env, and has a real agent run a task on it. It uses its own server and ports, beside the shared
 * cluster.
 */
class OperatorDeploymentIT {

    private static final String SERVER = "taskgrid-ops";
    private static final int HTTP_PORT = 19092;
    private static final int GRPC_PORT = 19051;

    private static Path wlp;
    private static Path serverDir;
    private static Process agent;
    private static String apiToken;
    private static String joinToken;

    /** The page whose deployment block this test runs (and {@code SeveralMastersIT} and {@code PayaraDeploymentIT}). */
    static final String OPERATIONS_PAGE = "docs/operations.md";

    @BeforeAll
    static void deployAsTheDocumentationSays() throws Exception {
        wlp = Path.of(SharedCluster.property("taskgrid.wlp.dir"));
        serverDir = wlp.resolve("usr/servers/" + SERVER);
        ExtraServer.deleteTree(serverDir);
        Path projectRoot = Path.of(SharedCluster.property("taskgrid.project.dir"));

        // The page's block, with this test's installation and server name, and without its last step: the
        // settings have to go into server.env before the server starts.
        List<String> block = deployBlock();
        assertThat(block).contains("WLP=/opt/wlp", "SERVER=taskgrid", "$WLP/bin/server start $SERVER");
        String script = block.stream()
                .map(line -> line.equals("WLP=/opt/wlp") ? "WLP='" + wlp + "'" : line)
                .map(line -> line.equals("SERVER=taskgrid") ? "SERVER=" + SERVER : line)
                .filter(line -> !line.equals("$WLP/bin/server start $SERVER"))
                .collect(Collectors.joining("\n", "set -euo pipefail\n", "\n"));
        Process deploy = new ProcessBuilder("bash", "-c", script).directory(projectRoot.toFile())
                .redirectErrorStream(true).start();
        String output = new String(deploy.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(deploy.waitFor(300, TimeUnit.SECONDS)).isTrue();
        assertThat(deploy.exitValue()).as(script + "\n" + output).isZero();

        // Settings in server.env: other ports than the shared cluster's, and every interface without TLS (the
        // documented opt-in for a network one trusts, which warns).
        // server create writes server.env without a final newline: start on a line of our own.
        Files.writeString(serverDir.resolve("server.env"), String.join("\n", "",
                "TASKGRID_HTTP_PORT=" + HTTP_PORT,
                "TASKGRID_GRPC_PORT=" + GRPC_PORT,
                "TASKGRID_LISTEN_HOST=*",
                "TASKGRID_TLS_INSECURE_ALLOWED=true",
                ""), StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        ExtraServer.run(wlp.resolve("bin/server").toString(), "start", SERVER);
        InitialCredentials credentials = InitialCredentials.read(serverDir);
        apiToken = credentials.operatorToken();
        joinToken = credentials.joinToken();

        agent = AgentProcess.agent().id("ops-1").master("localhost:" + GRPC_PORT).args("--reconnect-delay", "1s")
                .joinToken(joinToken)
                .log(Path.of(SharedCluster.property("taskgrid.log.dir"), "ops-agent.log"))
                .start();
    }

    /**
     * The lines of the sh block under "Deploying master.war on your own Liberty" in docs/operations.md, continuations
     * joined, comments and blank lines left out.
     */
    static List<String> deployBlock() throws IOException {
        return DocBlocks.lines(DocBlocks.page(OPERATIONS_PAGE), "## Deploying master.war on your own Liberty");
    }

    @AfterAll
    static void stop() throws Exception {
        if (agent != null) {
            agent.destroy();
            agent.waitFor(30, TimeUnit.SECONDS);
        }
        ExtraServer.run(wlp.resolve("bin/server").toString(), "stop", SERVER);
    }

    @Test
    void theDeployedMasterRunsTasksAndKeepsThemInItsOwnDatabase() {
        TaskgridClient api = new TaskgridClient("http://localhost:" + HTTP_PORT, apiToken);
        poll(Duration.ofSeconds(60), Duration.ofMillis(200)).alias("the agent connects to the deployed master")
                .until(() -> workerCount(api) >= 1);
        JsonObject done = api.awaitFinal(api.submitCmd("echo deployed by hand"), Duration.ofSeconds(30));
        assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
        assertThat(done.getString("stdout")).isEqualTo("deployed by hand\n");
        assertThat(done.getString("workerId")).isEqualTo("ops-1");
        assertThat(serverDir.resolve("taskgrid-db")).isDirectory();
    }

    @Test
    void theFirstStartMadeCredentialsAndWarnsAboutPlaintext() throws Exception {
        String log = Files.readString(serverDir.resolve("logs/messages.log"));
        assertThat(log).contains("Taskgrid first start: credentials made").doesNotContain("authentication is off")
                .contains("TASKGRID SECURITY WARNING").contains("taskgrid.tls.insecure.allowed=true");
    }

    @Test
    void listeningOnEveryInterfaceIsOneSettingAndStillNeedsAToken() throws Exception {
        Optional<InetAddress> external = Hosts.nonLoopbackAddress();
        assumeTrue(external.isPresent(), "this machine has no non-loopback IPv4 address to try");
        TaskgridClient remote = new TaskgridClient("http://" + external.get().getHostAddress() + ":" + HTTP_PORT, null);
        assertThat(remote.get("/workers").status()).isEqualTo(401);
        assertThat(remote.withToken(apiToken).get("/workers").status()).isEqualTo(200);
    }

    private static int workerCount(TaskgridClient api) {
        try {
            return api.workers().size();
        } catch (UncheckedIOException e) {
            return 0; // not listening yet
        }
    }

}
