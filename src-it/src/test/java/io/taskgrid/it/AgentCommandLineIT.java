package io.taskgrid.it;

import io.taskgrid.it.cluster.LocalCluster;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** The agent jar as a user runs it: java -jar worker-agent.jar ... */
@ExtendWith(SharedCluster.class)
class AgentCommandLineIT {

    private final LocalCluster cluster = SharedCluster.cluster();

    private ProcessBuilder withJoinToken(ProcessBuilder builder) {
        builder.environment().put("TASKGRID_JOIN_TOKEN", cluster.joinToken());
        return builder;
    }

    private record Run(int exit, String stdout, String stderr) {
    }

    private static Run agent(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar", SharedCluster.property("taskgrid.agent.jar")));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).start();
        assertThat(process.waitFor(30, TimeUnit.SECONDS)).isTrue();
        return new Run(process.exitValue(), new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8),
                new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
    }

    @Test
    void unknownOrMalformedFlagsPrintUsageOnStderrAndExit2() throws Exception {
        for (String[] args : List.of(new String[]{"--bogus"}, new String[]{"--slots", "zero"},
                new String[]{"--master", "no-port"}, new String[]{"--id"})) {
            Run run = agent(args);
            assertThat(run.exit()).as(String.join(" ", args)).isEqualTo(2);
            assertThat(run.stderr()).contains("worker-agent: ").contains("Usage: java -jar worker-agent.jar");
            assertThat(run.stdout()).isEmpty();
        }
    }

    @Test
    void helpPrintsUsageAndExits0() throws Exception {
        Run run = agent("--help");
        assertThat(run.exit()).isZero();
        assertThat(run.stdout()).contains("--id", "--master", "--slots", "--reconnect-delay");
    }

    @Test
    void withNoFlagsTheAgentJoinsTheLocalMasterUnderAUniqueIdAndExits0OnSigterm() throws Exception {
        int before = cluster.connectedWorkers();
        Process agent = withJoinToken(new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar", SharedCluster.property("taskgrid.agent.jar")))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(
                        Path.of(SharedCluster.property("taskgrid.log.dir"), "default-agent.log").toFile()))
                .start();
        try {
            cluster.awaitWorkers(before + 1, Duration.ofSeconds(30));
            List<String> ids = SharedCluster.client().workers().stream().map(w -> w.getString("id")).toList();
            assertThat(ids).filteredOn(id -> !cluster.configuredWorkerIds().contains(id)).hasSize(1)
                    .allMatch(id -> id.matches("[A-Za-z0-9._-]+-[0-9a-f]{8}"));
        } finally {
            agent.destroy();
            assertThat(agent.waitFor(30, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(agent.exitValue()).isZero();
        cluster.awaitWorkers(before, Duration.ofSeconds(30));
    }

    @Test
    void anAgentWithAllowRulesRunsOnlyMatchingCommands(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        for (String id : cluster.agentIds()) {
            cluster.stopAgent(id);
        }
        cluster.awaitWorkers(0, Duration.ofSeconds(30));
        Path log = Path.of(SharedCluster.property("taskgrid.log.dir"), "restricted-agent.log");
        Process restricted = withJoinToken(new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar", SharedCluster.property("taskgrid.agent.jar"), "--id", "restricted",
                "--master", cluster.config().grpcTarget(), "--allow", "echo allowed[a-z ]*",
                "--state-dir", dir.resolve("state").toString()))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
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
    void anAgentRunningAsRootWithoutRunAsSaysSoAtStart(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
                "the warning is about running as root");
        Path log = dir.resolve("root-agent.log");
        Process agent = withJoinToken(new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar", SharedCluster.property("taskgrid.agent.jar"), "--id", "rooted",
                "--master", cluster.config().grpcTarget(), "--state-dir", dir.resolve("state").toString()))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!java.nio.file.Files.readString(log).contains("starting")) {
                assertThat(System.nanoTime()).as("the agent starts").isLessThan(deadline);
                TaskgridClient.sleep(100);
            }
            TaskgridClient.sleep(500);
            assertThat(java.nio.file.Files.readString(log)).contains("runs as root").contains("--run-as");
        } finally {
            agent.destroy();
            agent.waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void aSecondAgentCannotTakeTheIdOfAConnectedOne() throws Exception {
        String taken = cluster.configuredWorkerIds().get(0);
        Path log = Path.of(SharedCluster.property("taskgrid.log.dir"), "impostor.log");
        Process impostor = withJoinToken(new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar", SharedCluster.property("taskgrid.agent.jar"), "--id", taken,
                "--master", cluster.config().grpcTarget(), "--reconnect-delay", "500ms"))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            String output = "";
            while (System.nanoTime() < deadline && !output.contains("ALREADY_EXISTS")) {
                TaskgridClient.sleep(200);
                output = java.nio.file.Files.readString(log);
            }
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
