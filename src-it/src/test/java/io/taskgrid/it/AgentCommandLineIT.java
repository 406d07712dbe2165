package io.taskgrid.it;

import io.taskgrid.it.cluster.LocalCluster;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The agent jar as a user runs it: java -jar worker-agent.jar ... */
@ExtendWith(SharedCluster.class)
class AgentCommandLineIT {

    private final LocalCluster cluster = SharedCluster.cluster();

    private record Run(int exit, String stdout, String stderr) {
    }

    /** Runs the agent with just these arguments, to its exit, stdout and stderr kept apart. */
    private static Run run(String... args) throws IOException, InterruptedException {
        Process process = AgentProcess.agent().args(args).start();
        assertThat(process.waitFor(30, TimeUnit.SECONDS)).isTrue();
        return new Run(process.exitValue(), new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8),
                new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
    }

    @Test
    void unknownOrMalformedFlagsPrintUsageOnStderrAndExit2() throws Exception {
        for (String[] args : List.of(new String[]{"--bogus"}, new String[]{"--slots", "zero"},
                new String[]{"--master", "no-port"}, new String[]{"--id"})) {
            Run run = run(args);
            assertThat(run.exit()).as(String.join(" ", args)).isEqualTo(2);
            assertThat(run.stderr()).contains("worker-agent: ").contains("Usage: java -jar worker-agent.jar");
            assertThat(run.stdout()).isEmpty();
        }
    }

    @Test
    void withoutTlsAnAgentDoesNotSendItsJoinTokenToAnotherMachine() throws Exception {
        Run run = run("--master", "192.0.2.1:50051", "--token", "tgj_not-for-the-wire");
        assertThat(run.exit()).isEqualTo(2);
        assertThat(run.stderr()).contains("in clear").contains("--tls-ca").contains("--plaintext");
    }

    @Test
    void helpPrintsUsageAndExits0() throws Exception {
        Run run = run("--help");
        assertThat(run.exit()).isZero();
        assertThat(run.stdout()).contains("--id", "--master", "--slots", "--reconnect-delay");
    }

    /**
     * Without flags (but --master when the cluster is not on the default port), in a home of the test's own: the
     * agent chooses an id, keeps it in its default state directory, joins under it and exits 0 on SIGTERM.
     */
    @Test
    void withNoFlagsTheAgentJoinsTheLocalMasterUnderAnIdItKeepsAndExits0OnSigterm(@TempDir Path home)
            throws Exception {
        int before = cluster.connectedWorkers();
        AgentProcess withoutFlags = AgentProcess.agent().home(home).joinToken(cluster.joinToken())
                .appendLog(Path.of(SharedCluster.property("taskgrid.log.dir"), "default-agent.log"));
        if (cluster.config().grpcPort() != 50051) {
            withoutFlags.master(cluster.config().grpcTarget());
        }
        Process agent = withoutFlags.start();
        String id;
        try {
            cluster.awaitWorkers(before + 1, Duration.ofSeconds(30));
            List<String> ids = SharedCluster.client().workers().stream().map(w -> w.getString("id"))
                    .filter(w -> !cluster.configuredWorkerIds().contains(w)).toList();
            assertThat(ids).hasSize(1).allMatch(w -> w.matches("[A-Za-z0-9._-]+-[0-9a-f]{8}"));
            id = ids.get(0);
        } finally {
            agent.destroy();
            assertThat(agent.waitFor(30, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(agent.exitValue()).isZero();
        assertThat(home.resolve(".taskgrid-agent/default/worker-id")).content().isEqualTo(id + "\n");
        cluster.awaitWorkers(before, Duration.ofSeconds(30));
    }

    /** A join token the master does not know ends the agent at once, with the master's reason and exit code 4. */
    @Test
    void anAgentWhoseJoinTokenTheMasterRefusesExitsAtOnceWith4AndTheReason(@TempDir Path dir) throws Exception {
        long start = System.nanoTime();
        Process agent = AgentProcess.agent().id("wrong-token").master(cluster.config().grpcTarget())
                .args("--state-dir", dir.resolve("state").toString(), "--reconnect-delay", "500ms")
                .joinToken("tgj_not-a-token-of-this-master").start();
        try {
            assertThat(agent.waitFor(30, TimeUnit.SECONDS)).as("the agent ends by itself").isTrue();
        } finally {
            if (agent.isAlive()) {
                // destroy() closes the pipes too: only for an agent still running, whose output is not read then
                agent.destroyForcibly();
            }
        }
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        String stderr = new String(agent.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(agent.exitValue()).as(stderr).isEqualTo(4);
        assertThat(stderr).contains("refused this agent's join token (the join token is not valid on this master)")
                .contains("exit code 4");
        assertThat(took).isLessThan(Duration.ofSeconds(20));
        assertThat(SharedCluster.client().workers()).extracting(w -> w.getString("id")).doesNotContain("wrong-token");
    }

    @Test
    void anAgentWithAllowRulesRunsOnlyMatchingCommands(@TempDir Path dir) throws Exception {
        for (String id : cluster.agentIds()) {
            cluster.stopAgent(id);
        }
        cluster.awaitWorkers(0, Duration.ofSeconds(30));
        Path log = Path.of(SharedCluster.property("taskgrid.log.dir"), "restricted-agent.log");
        Process restricted = AgentProcess.agent().id("restricted").master(cluster.config().grpcTarget())
                .args("--allow", "echo allowed[a-z ]*", "--state-dir", dir.resolve("state").toString())
                .joinToken(cluster.joinToken()).log(log).start();
        try {
            cluster.awaitWorkers(1, Duration.ofSeconds(30));
            TaskgridClient api = SharedCluster.client();
            JsonObject allowed = api.awaitFinal(api.submitCmd("echo allowed here"), Duration.ofSeconds(30));
            assertThat(allowed.getString("state")).isEqualTo("SUCCEEDED");
            Path marker = dir.resolve("should-not-exist");
            JsonObject refused = api.awaitFinal(api.submitCmd("echo allowed; touch " + marker), Duration.ofSeconds(30));
            assertThat(refused.getString("state")).isEqualTo("FAILED");
            assertThat(refused.getString("reason")).contains("--allow");
            assertThat(marker).doesNotExist();
        } finally {
            restricted.destroy();
            restricted.waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void anAgentRunningAsRootWithoutRunAsSaysSoAtStart(@TempDir Path dir) throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "the warning is about running as root");
        Path log = dir.resolve("root-agent.log");
        Process agent = AgentProcess.agent().id("rooted").master(cluster.config().grpcTarget())
                .args("--state-dir", dir.resolve("state").toString())
                .joinToken(cluster.joinToken()).log(log).start();
        try {
            poll(Duration.ofSeconds(20), Duration.ofMillis(100)).alias("the agent starts")
                    .until(() -> Files.readString(log).contains("starting"));
            // The warning belongs to the start: it follows "starting" with no task given. (Within 10 s: half a second
            // was too short on two busy cores.)
            poll(Duration.ofSeconds(10), Duration.ofMillis(100)).untilAsserted(() ->
                    assertThat(Files.readString(log)).contains("runs as root").contains("--run-as"));
        } finally {
            agent.destroy();
            agent.waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void aSecondAgentCannotTakeTheIdOfAConnectedOne() throws Exception {
        String taken = cluster.configuredWorkerIds().get(0);
        Path log = Path.of(SharedCluster.property("taskgrid.log.dir"), "impostor.log");
        Process impostor = AgentProcess.agent().id(taken).master(cluster.config().grpcTarget())
                .args("--reconnect-delay", "500ms")
                .joinToken(cluster.joinToken()).log(log).start();
        try {
            String output = poll(Duration.ofSeconds(20), Duration.ofMillis(200))
                    .until(() -> Files.readString(log), text -> text.contains("ALREADY_EXISTS"));
            assertThat(output).contains("ALREADY_EXISTS").contains(taken);
            assertThat(cluster.connectedWorkers()).isEqualTo(cluster.config().workers());
            JsonObject done = SharedCluster.client().awaitFinal(SharedCluster.client().submitCmd("echo fine"),
                    Duration.ofSeconds(30));
            assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
        } finally {
            impostor.destroy();
            impostor.waitFor(30, TimeUnit.SECONDS);
        }
    }
}
