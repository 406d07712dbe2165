package io.taskgrid.agent;

import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.Phase;
import io.taskgrid.proto.v1.StatusReport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The agent as a supervisor sees it: a process whose exit code says why it ended, with the reason on stderr. Each case
 * runs the agent's own main in a JVM of its own, as {@code java -jar worker-agent.jar} would.
 */
class AgentExitCodeTest {

    @TempDir
    Path dir;

    private record Exit(int code, String stderr, Duration took) {
    }

    /** Runs the agent to its end, which must come within 30 s. */
    private Exit run(String... args) throws Exception {
        Path stderr = dir.resolve("stderr-" + System.nanoTime());
        long start = System.nanoTime();
        Process agent = ChildJvm.running(WorkerAgent.class, args).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(stderr.toFile()).start();
        try {
            assertThat(agent.waitFor(30, TimeUnit.SECONDS))
                    .as(() -> "the agent ends by itself; it wrote:\n" + read(stderr)).isTrue();
        } finally {
            agent.destroyForcibly();
        }
        return new Exit(agent.exitValue(), read(stderr), Duration.ofNanos(System.nanoTime() - start));
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            return "(unreadable: " + e.getMessage() + ")";
        }
    }

    @Test
    void aBadFlagExits2WithTheUsage() throws Exception {
        Exit exit = run("--slots", "0");
        assertThat(exit.code()).isEqualTo(ExitCode.USAGE.value()).isEqualTo(2);
        assertThat(exit.stderr()).startsWith("worker-agent: ").contains("--slots").contains("Exit codes:");
    }

    @Test
    void aStateDirectoryInUseByAnotherAgentExits3NamingItAndThatAgentsPid() throws Exception {
        Path state = dir.resolve("state");
        try (StateDirectory held = StateDirectory.open(state)) {
            Exit exit = run("--state-dir", held.dir().toString(), "--master", "127.0.0.1:9");
            assertThat(exit.code()).isEqualTo(ExitCode.STATE_DIRECTORY.value()).isEqualTo(3);
            assertThat(exit.stderr().lines().filter(line -> line.startsWith("worker-agent: ")))
                    .as("one line").singleElement().asString()
                    .startsWith("worker-agent: the state directory " + state + " is in use by another agent (pid "
                            + ProcessHandle.current().pid() + ")");
        }
    }

    @Test
    void aStateDirectoryHoldingResultsOfAnotherWorkerExits3AndKeepsThem() throws Exception {
        Path state = dir.resolve("state");
        new Outbox(state).save(StatusReport.newBuilder().setWorkerId("w1").setTaskId("t1").setAttemptId("a1")
                .setPhase(Phase.FINISHED).setOutcome(Outcome.EXITED).build());
        Exit exit = run("--id", "w2", "--state-dir", state.toString(), "--master", "127.0.0.1:9");
        assertThat(exit.code()).isEqualTo(3);
        assertThat(exit.stderr()).contains("1 result(s) of worker w1 not yet delivered").contains("--id w1");
        assertThat(new Outbox(state).pending()).hasSize(1);
    }

    @Test
    void anUnusableStateDirectoryExits3() throws Exception {
        Path file = Files.writeString(dir.resolve("not-a-directory"), "x");
        Exit exit = run("--state-dir", file.toString(), "--master", "127.0.0.1:9");
        assertThat(exit.code()).isEqualTo(3);
        assertThat(exit.stderr()).contains(file + " is not a directory");
    }

    /** Refused once, the agent stops at once with the master's reason, instead of knocking again forever. */
    @Test
    void aJoinTokenTheMasterRefusesExits4AtOnceWithTheMastersReason() throws Exception {
        FakeMaster master = new FakeMaster();
        master.refuseToken = true;
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .addService(ServerInterceptors.intercept(master, master.headerRecorder())).build().start();
        try {
            Exit exit = run("--master", "127.0.0.1:" + server.getPort(), "--token", "tgj_wrong",
                    "--state-dir", dir.resolve("state").toString(), "--reconnect-delay", "100ms");
            assertThat(exit.code()).as(exit.stderr()).isEqualTo(ExitCode.JOIN_TOKEN_REFUSED.value()).isEqualTo(4);
            assertThat(exit.stderr()).contains("refused this agent's join token (the join token is not valid on this "
                    + "master): stopping, exit code 4");
            assertThat(master.refusedCalls).as("no second try").containsExactly("Connect");
            assertThat(exit.took()).isLessThan(Duration.ofSeconds(20));
        } finally {
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /** A master of another protocol: no waiting makes it speak this one, so the agent stops at once. */
    @Test
    void aMasterOfAnotherProtocolExits5AtOnceWithTheMastersReason() throws Exception {
        FakeMaster master = new FakeMaster();
        master.refuseProtocol = "this master speaks protocol 3 only";
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .addService(master).build().start();
        try {
            Exit exit = run("--master", "127.0.0.1:" + server.getPort(), "--token", "tgj_any",
                    "--state-dir", dir.resolve("state").toString(), "--reconnect-delay", "100ms");
            assertThat(exit.code()).as(exit.stderr()).isEqualTo(ExitCode.PROTOCOL_MISMATCH.value()).isEqualTo(5);
            assertThat(exit.stderr()).contains("this master speaks protocol 3 only").contains("exit code 5");
            assertThat(master.connects.get()).as("no second try").isEqualTo(1);
        } finally {
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
