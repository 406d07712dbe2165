package io.taskgrid.it;

import io.taskgrid.it.cluster.ClusterConfig;
import io.taskgrid.it.cluster.LocalCluster;
import io.taskgrid.it.cluster.ServerLayout;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 15: an agent restarted without {@code --id} is the worker it was, so a result it finished while the master was
 * out of its reach is delivered after the restart, and the task runs once. Before, such an agent named itself anew at
 * each start: the master refused its claim, and the task ran again once the master gave the first attempt up.
 *
 * <p>A master of its own (workers: none of the cluster's), whose lostAfter (60 s) leaves time for the agent's stop,
 * which waits for a report the master cannot take, and its start again; the shared cluster's 8 s would not. Between
 * the agent and the master's gRPC port a {@link CuttableProxy}; the task requires a label only that agent offers. The
 * agent runs with a home directory of the test's own, where its default state directory lies. Free ports, picked at
 * start.
 */
class AgentRestartIT {

    private static final Duration LOST_AFTER = Duration.ofSeconds(60);
    private static LocalCluster cluster;
    private static TaskgridClient api;
    private static Path logs;

    @BeforeAll
    static void start() throws IOException {
        logs = Path.of(SharedCluster.property("taskgrid.log.dir")).resolve("agent-restart-cluster");
        Path wlp = Path.of(SharedCluster.property("taskgrid.wlp.dir"));
        ServerLayout.copyOfBuildServer(wlp, "taskgrid-agent-restart", Map.of(), Map.of());
        cluster = LocalCluster.start(ClusterConfig.builder(wlp, Path.of(SharedCluster.property("taskgrid.agent.jar")))
                .serverName("taskgrid-agent-restart").ports(freePort(), freePort()).workers(0)
                .logDir(logs).stateDir(logs.resolve("state"))
                .masterEnv("TASKGRID_LOST_AFTER_SECONDS", Long.toString(LOST_AFTER.toSeconds()))
                .build());
        api = new TaskgridClient(cluster.config().apiBase(), cluster.apiToken());
    }

    @AfterAll
    static void stop() {
        if (cluster != null) {
            cluster.close();
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    @Test
    void anAgentWithoutIdStoppedWhileTheMasterIsOutOfReachDeliversItsResultAfterARestartAndTheTaskRunsOnce(
            @TempDir Path dir) throws Exception {
        Path home = dir.resolve("home");
        Path runs = dir.resolve("runs");
        String label = "restart-" + UUID.randomUUID().toString().substring(0, 8);
        try (CuttableProxy proxy = CuttableProxy.to(cluster.config().grpcPort())) {
            AgentProcess agent = AgentProcess.agent().home(home).master("127.0.0.1:" + proxy.port())
                    .args("--label", "agent=" + label, "--reconnect-delay", "500ms", "--max-reconnect-delay", "1s")
                    .joinToken(cluster.joinToken()).appendLog(logs.resolve("agent-without-id.log"));
            Process first = agent.start();
            String workerId;
            String task;
            try {
                workerId = poll(Duration.ofSeconds(30), Duration.ofMillis(200)).alias("the agent connects")
                        .until(() -> workerWith(label), Optional::isPresent).orElseThrow();
                task = api.submit("{\"cmd\": \"sleep 2; echo ran | tee -a " + runs + "\", \"requires\": {\"agent\": \""
                        + label + "\"}}");
                api.awaitState(task, Set.of("RUNNING"), Duration.ofSeconds(30));

                proxy.cut();
                poll(Duration.ofSeconds(30), Duration.ofMillis(200)).alias("the result is stored, not delivered")
                        .until(() -> storedResults(home).size() == 1);
                first.toHandle().destroy();
                assertThat(first.waitFor(60, TimeUnit.SECONDS)).as("the agent stops on SIGTERM").isTrue();
                assertThat(first.exitValue()).isZero();
            } finally {
                first.destroyForcibly();
            }
            assertThat(storedResults(home)).as("the result outlives the agent").hasSize(1);
            assertThat(Files.readAllLines(runs)).containsExactly("ran");
            assertThat(api.task(task).getString("state")).as("the master has not heard of it").isEqualTo("RUNNING");

            proxy.restore();
            Process second = agent.start();
            try {
                // Long enough for a task given up after lostAfter to run again: a second run must show here.
                JsonObject done = api.awaitFinal(task, LOST_AFTER.plus(Duration.ofSeconds(60)));
                assertThat(Files.readAllLines(runs)).as("the command ran once").containsExactly("ran");
                List<JsonObject> attempts = done.getJsonArray("attempts").getValuesAs(JsonObject.class);
                assertThat(attempts).as("attempts").hasSize(1);
                assertThat(attempts.get(0).getString("workerId")).isEqualTo(workerId);
                assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
                assertThat(done.getString("stdout")).isEqualTo("ran\n");
                assertThat(workerWith(label)).as("the restarted agent is the same worker").contains(workerId);
                poll(Duration.ofSeconds(10), Duration.ofMillis(100)).alias("the delivered result leaves the outbox")
                        .until(() -> storedResults(home).isEmpty());
            } finally {
                second.destroy();
                second.waitFor(60, TimeUnit.SECONDS);
                second.destroyForcibly();
            }
        }
    }

    /** The id of the connected worker offering this label, if one does. */
    private static Optional<String> workerWith(String label) {
        return api.workers().stream()
                .filter(w -> w.containsKey("labels") && label.equals(w.getJsonObject("labels").getString("agent", null)))
                .map(w -> w.getString("id")).findFirst();
    }

    /** The results waiting in any state directory under the agent's home. */
    private static List<Path> storedResults(Path home) throws IOException {
        Path agents = home.resolve(".taskgrid-agent");
        if (!Files.exists(agents)) {
            return List.of();
        }
        try (Stream<Path> files = Files.walk(agents)) {
            return files.filter(f -> f.getFileName().toString().endsWith(".report")).toList();
        }
    }
}
