package io.taskgrid.it;

import io.taskgrid.it.cluster.LocalCluster;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * What a task can see of the agent that runs it. Each test runs one agent of its own, alone in the pool, given its join
 * token the ways an operator gives it (environment, file), and submits commands that go looking for it.
 */
@ExtendWith(SharedCluster.class)
class AgentIsolationIT {

    private final LocalCluster cluster = SharedCluster.cluster();
    private final TaskgridClient api = SharedCluster.client();
    private Process agent;

    @TempDir
    Path dir;

    private Process startAlone(String id, Path stateDir, List<String> extraFlags) throws Exception {
        for (String other : cluster.agentIds()) {
            cluster.stopAgent(other);
        }
        cluster.awaitWorkers(0, Duration.ofSeconds(30));
        Path tokenFile = dir.resolve("join-token");
        Files.writeString(tokenFile, cluster.joinToken() + "\n");
        Files.setPosixFilePermissions(tokenFile, PosixFilePermissions.fromString("rw-------"));
        agent = AgentProcess.agent().id(id).master(cluster.config().grpcTarget())
                .args("--token-file", tokenFile.toString(), "--state-dir", stateDir.toString())
                .args(extraFlags)
                // Also in its environment, as an operator using TASKGRID_JOIN_TOKEN would have it.
                .joinToken(cluster.joinToken())
                .env("TASKGRID_SOMETHING_ELSE", "agent-setting")
                .log(Path.of(SharedCluster.property("taskgrid.log.dir"), id + ".log"))
                .start();
        cluster.awaitWorkers(1, Duration.ofSeconds(30));
        return agent;
    }

    @AfterEach
    void stopAgent() throws Exception {
        if (agent != null) {
            agent.destroy();
            agent.waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void aTaskDoesNotInheritTheAgentsTokenOrSettings() throws Exception {
        startAlone("isolated-env", dir.resolve("state"), List.of());
        JsonObject done = api.awaitFinal(api.submitCmd("env"), Duration.ofSeconds(30));
        assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
        assertThat(done.getString("stdout")).contains("PATH=").doesNotContain("TASKGRID_")
                .doesNotContain(cluster.joinToken());
    }

    @Test
    void asAnotherUserATaskCannotReadTheAgentsTokenStateOrEnvironment() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "--run-as needs the agent to run as root");
        // Only the files' own modes stand in the way: the folder around them is open to everyone.
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path state = dir.resolve("state");
        Process process = startAlone("isolated-user", state, List.of("--run-as", "nobody"));
        long pid = process.pid();
        // Leave a result in the state directory for the task to go looking for.
        Files.writeString(state.resolve("planted.report"), "other task's result");
        String probe = String.join("; ",
                "echo uid=$(id -u)",
                "cat " + dir.resolve("join-token") + " && echo READ-TOKEN",
                "cat /proc/" + pid + "/environ && echo READ-ENVIRON",
                "ls " + state + " && echo LISTED-STATE",
                "cat " + state.resolve("planted.report") + " && echo READ-RESULT",
                "kill -0 " + pid + " && echo CAN-SIGNAL",
                "true");
        JsonObject done = api.awaitFinal(api.submitCmd(probe), Duration.ofSeconds(30));
        String out = done.getString("stdout");
        String err = done.getString("stderr");
        assertThat(out).contains("uid=65534").doesNotContain("READ-TOKEN").doesNotContain("READ-ENVIRON")
                .doesNotContain("LISTED-STATE").doesNotContain("READ-RESULT").doesNotContain("CAN-SIGNAL");
        assertThat(out + err).doesNotContain(cluster.joinToken()).doesNotContain("other task's result");
        assertThat(err).contains("Permission denied");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(state))).isEqualTo("rwx------");
        assertThat(Files.readString(Path.of(SharedCluster.property("taskgrid.log.dir"), "isolated-user.log")))
                .contains("commands run as nobody");
    }
}
