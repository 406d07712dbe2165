package io.taskgrid.agent;

import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.taskgrid.proto.v1.DrainRequest;
import io.taskgrid.proto.v1.Hello;
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
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * An agent whose user can have no more processes (a fork bomb of its own user, say) cannot start any command, and
 * failing every task it is given would only empty the queue into FAILED: it hands the task back unstarted, asks the
 * master for no more (Drain, with its reason), and takes tasks again once a process starts.
 *
 * <p>The agent runs in a JVM of its own as an unprivileged user (root ignores RLIMIT_NPROC), whose process limit the
 * test lowers under it, and raises again, with {@code prlimit --pid}.
 */
class AgentCannotStartProcessesTest {

    @TempDir
    Path dir;

    @Test
    void itDrainsItselfWithItsReasonHandsTheTaskBackAndTakesTasksAgainOnceProcessesStart() throws Exception {
        UnprivilegedJvm.User user = UnprivilegedJvm.user();
        FakeMaster master = new FakeMaster();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .addService(master).build().start();
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path state = Files.createDirectory(dir.resolve("state"));
        Files.setAttribute(state, "unix:uid", (int) user.uid());
        Files.setAttribute(state, "unix:gid", (int) user.gid());
        Files.setPosixFilePermissions(state, PosixFilePermissions.fromString("rwx------"));
        List<String> command = new ArrayList<>(UnprivilegedJvm.as(user));
        command.addAll(UnprivilegedJvm.java(WorkerAgent.class, "--id", "w-nproc", "--master", "127.0.0.1:"
                + server.getPort(), "--token", "tgj_nproc-test", "--state-dir", state.toString(), "--slots", "1", "--prefetch", "0",
                "--kill-grace", "1s", "--reconnect-delay", "100ms", "--max-reconnect-delay", "500ms"));
        Path log = dir.resolve("agent.log");
        Process agent = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(log.toFile()).start();
        try {
            Hello first = master.hellos.poll(30, TimeUnit.SECONDS);
            assertThat(first).as(() -> "registered; the agent wrote:\n" + read(log)).isNotNull();
            // A first task leaves the threads a task needs (slot, output readers) idle in their pools.
            master.assign("t0", "a0", "echo warm");
            assertThat(finished(master).getOutcome()).isEqualTo(Outcome.EXITED);

            // From here the agent's user may not have one more process (or thread). Set as that user, whom the
            // limits of its own processes are open to: root may lack CAP_SYS_RESOURCE (it does here), and only the
            // soft limit, so that the same user may raise it again.
            String soft = softProcessLimit(agent.pid());
            assertThat(setLimit(user, agent.pid(), "1")).isZero();
            master.assign("t1", "a1", "echo never");

            DrainRequest drain = master.drains.poll(20, TimeUnit.SECONDS);
            assertThat(drain).as(() -> "the agent drained itself; it wrote:\n" + read(log)
                    + "\nand reported: " + master.reports).isNotNull();
            assertThat(drain.getReason()).contains("cannot start processes");
            StatusReport handedBack = master.nextReport();
            assertThat(handedBack.getAttemptId()).isEqualTo("a1");
            assertThat(handedBack.getPhase()).isEqualTo(Phase.FINISHED);
            assertThat(handedBack.getOutcome()).as("handed back unstarted, to run elsewhere, not FAILED: "
                    + handedBack.getReason()).isEqualTo(Outcome.REJECTED);
            assertThat(handedBack.getReason()).contains("cannot start processes");

            // Processes can be had again: the agent notices by itself and comes back, undrained (a new registration).
            assertThat(setLimit(user, agent.pid(), soft)).isZero();
            Hello again = master.hellos.poll(30, TimeUnit.SECONDS);
            assertThat(again).as(() -> "registered again; the agent wrote:\n" + read(log)).isNotNull();
            assertThat(again.getWorkerId()).isEqualTo("w-nproc");
            assertThat(again.getSessionId()).as("the same agent process").isEqualTo(first.getSessionId());
            master.assign("t2", "a2", "echo back");
            StatusReport back = finished(master);
            assertThat(back.getOutcome()).isEqualTo(Outcome.EXITED);
            assertThat(back.getStdout().toStringUtf8()).isEqualTo("back\n");
            assertThat(read(log)).contains("processes start again");
        } finally {
            System.out.println("the agent wrote:\n" + read(log));
            agent.destroyForcibly();
            agent.waitFor(30, TimeUnit.SECONDS);
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            UnprivilegedJvm.killAll(user);
        }
    }

    /** The next FINISHED report: a cold JVM may well take long enough for a STARTED first. */
    private static StatusReport finished(FakeMaster master) throws InterruptedException {
        StatusReport report = master.nextReport();
        while (report.getPhase() != Phase.FINISHED) {
            report = master.nextReport();
        }
        return report;
    }

    /** Sets the soft RLIMIT_NPROC of {@code pid}, as {@code user}: a process root starts, so it needs no new one. */
    private static int setLimit(UnprivilegedJvm.User user, long pid, String soft) throws Exception {
        List<String> command = new ArrayList<>(UnprivilegedJvm.as(user));
        command.addAll(List.of("/usr/bin/prlimit", "--pid", Long.toString(pid), "--nproc=" + soft + ":"));
        return UnprivilegedJvm.run(command.toArray(String[]::new));
    }

    /** The soft limit of processes of {@code pid}, as /proc/PID/limits has it ("unlimited", or a number). */
    private static String softProcessLimit(long pid) throws IOException {
        return Files.readAllLines(Path.of("/proc", Long.toString(pid), "limits")).stream()
                .filter(line -> line.startsWith("Max processes")).findFirst().orElseThrow()
                .substring("Max processes".length()).trim().split("\\s+")[0];
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            return "(unreadable: " + e + ")";
        }
    }
}
