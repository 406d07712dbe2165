package io.taskgrid.agent;

import io.taskgrid.proto.WorkerLimits;
import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.Phase;
import io.taskgrid.proto.v1.StatusReport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class StateDirectoryTest {

    @TempDir
    Path dir;

    private static StatusReport result(String workerId, String attemptId) {
        return StatusReport.newBuilder().setWorkerId(workerId).setTaskId("task-" + attemptId).setAttemptId(attemptId)
                .setPhase(Phase.FINISHED).setOutcome(Outcome.EXITED).build();
    }

    /** The id the directory keeps once an agent ran on it without --id, read as a restarted agent would. */
    private String idWithoutFlag() {
        try (StateDirectory state = StateDirectory.open(dir)) {
            return state.workerId(null);
        }
    }

    @Test
    void anAgentWithoutIdKeepsTheIdItChoseAtItsFirstStart() throws Exception {
        String first = idWithoutFlag();
        assertThat(first).matches(WorkerLimits.WORKER_ID).matches(".+-[0-9a-f]{8}");
        assertThat(idWithoutFlag()).as("after a restart").isEqualTo(first);
        Path file = dir.resolve(StateDirectory.WORKER_ID_FILE);
        assertThat(Files.readString(file)).isEqualTo(first + "\n");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
    }

    /** A pipe named like the id file hung the agent's start for good; now it is refused at once, with the reason. */
    @Test
    void anIdFileThatIsNotARegularFileIsRefusedAtOnce() throws Exception {
        Path file = dir.resolve(StateDirectory.WORKER_ID_FILE);
        Process mkfifo = new ProcessBuilder("mkfifo", file.toString()).start();
        assertThat(mkfifo.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(mkfifo.exitValue()).isZero();
        long started = System.nanoTime();
        assertThatThrownBy(this::idWithoutFlag).isInstanceOf(UnusableStateDirectory.class)
                .hasMessageContaining("is not a regular file");
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started)).as("no wait on the pipe").isLessThan(5000);
    }

    /** Whoever may rename entries above the directory could swap it under the agent. */
    @Test
    void aStateDirectoryBelowAFolderOthersMayChangeIsRefused() throws Exception {
        Path open = Files.createDirectory(dir.resolve("open"));
        Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxrwxrwx"));
        assertThatThrownBy(() -> StateDirectory.open(open.resolve("state"))).isInstanceOf(UnusableStateDirectory.class)
                .hasMessageContaining(open + ", can be changed by other users (mode 777, not sticky)");
        Files.setAttribute(open, "unix:mode", 01777);
        try (StateDirectory state = StateDirectory.open(open.resolve("sticky-is-fine"))) {
            assertThat(state.dir()).isDirectory();
        }
    }

    @Test
    void dotAndDotDotAreNoWorkerIds() {
        assertThat(WorkerLimits.isWorkerId(".")).isFalse();
        assertThat(WorkerLimits.isWorkerId("..")).isFalse();
        assertThat(WorkerLimits.isWorkerId("...")).isTrue();
        assertThat(WorkerLimits.isWorkerId(".hidden")).isTrue();
    }

    @Test
    void twoDirectoriesChooseTwoIds(@TempDir Path other) {
        try (StateDirectory a = StateDirectory.open(dir); StateDirectory b = StateDirectory.open(other)) {
            assertThat(a.workerId(null)).isNotEqualTo(b.workerId(null));
        }
    }

    @Test
    void withIdTheDirectoryIsThatIdsAndPassesToAnotherIdOnlyWithNothingLeftToDeliver() {
        try (StateDirectory state = StateDirectory.open(dir)) {
            assertThat(state.workerId("w1")).isEqualTo("w1");
            state.outbox().save(result("w1", "a1"));
        }
        try (StateDirectory state = StateDirectory.open(dir)) {
            assertThatThrownBy(() -> state.workerId("w2")).isInstanceOf(UnusableStateDirectory.class)
                    .hasMessageContaining(dir.toString())
                    .hasMessageContaining("1 result(s) of worker w1 not yet delivered")
                    .hasMessageContaining("--id w1");
            assertThat(state.outbox().pending()).as("nothing dropped").hasSize(1);
            assertThat(state.workerId(null)).as("without --id: the id kept").isEqualTo("w1");
            state.outbox().remove(result("w1", "a1"));
            assertThat(state.workerId("w2")).isEqualTo("w2");
        }
        assertThat(idWithoutFlag()).isEqualTo("w2");
    }

    /** Agents before this one kept no id file; their results name the id they ran under. */
    @Test
    void aDirectoryOfAnAgentThatKeptNoIdGoesToTheIdItsWaitingResultsName() {
        Outbox earlier = new Outbox(dir);
        earlier.save(result("host-0123abcd", "a1"));
        earlier.save(result("host-0123abcd", "a2"));
        assertThat(idWithoutFlag()).isEqualTo("host-0123abcd");
    }

    @Test
    void resultsOfSeveralWorkersAreNotTakenOverByAnyOfThem() {
        Outbox earlier = new Outbox(dir);
        earlier.save(result("w1", "a1"));
        earlier.save(result("w2", "a2"));
        try (StateDirectory state = StateDirectory.open(dir)) {
            assertThatThrownBy(() -> state.workerId(null)).isInstanceOf(UnusableStateDirectory.class)
                    .hasMessageContaining("not yet delivered");
            assertThatThrownBy(() -> state.workerId("w1")).hasMessageContaining("of worker w2");
        }
    }

    @Test
    void anIdFileThatHoldsNoWorkerIdIsRefusedWithoutRepeatingWhatItHolds() throws Exception {
        Files.writeString(Files.createDirectories(dir).resolve(StateDirectory.WORKER_ID_FILE), "w1\nFORGED LINE\n");
        try (StateDirectory state = StateDirectory.open(dir)) {
            assertThatThrownBy(() -> state.workerId(null)).isInstanceOf(UnusableStateDirectory.class)
                    .hasMessageContaining("holds no worker id").hasMessageNotContaining("FORGED");
            assertThatThrownBy(() -> state.workerId("w1")).isInstanceOf(UnusableStateDirectory.class);
        }
    }

    @Test
    void anIdFileThatIsASymbolicLinkIsRefused() throws Exception {
        Path elsewhere = Files.writeString(dir.resolve("elsewhere"), "w1\n");
        Path state = Files.createDirectory(dir.resolve("state"));
        Files.createSymbolicLink(state.resolve(StateDirectory.WORKER_ID_FILE), elsewhere);
        try (StateDirectory opened = StateDirectory.open(state)) {
            assertThatThrownBy(() -> opened.workerId(null)).isInstanceOf(UnusableStateDirectory.class)
                    .hasMessageContaining("symbolic link");
        }
    }

    @Test
    void aSecondAgentOfThisProcessIsRefusedUntilTheFirstLetsGo() {
        StateDirectory first = StateDirectory.open(dir);
        assertThatThrownBy(() -> StateDirectory.open(dir)).isInstanceOf(UnusableStateDirectory.class)
                .hasMessageContaining("the state directory " + dir + " is in use by another agent (pid "
                        + ProcessHandle.current().pid() + ")");
        assertThatThrownBy(() -> StateDirectory.open(dir.resolve("../" + dir.getFileName())))
                .as("the same directory by another path").isInstanceOf(UnusableStateDirectory.class);
        first.close();
        StateDirectory.open(dir).close();
    }

    /**
     * The lock is the kernel's, per process: an agent in another JVM is kept out, is told that one's pid, and gets
     * the directory as soon as that one dies, even by SIGKILL (no stale lock to clear).
     */
    @Test
    void anAgentInAnotherProcessKeepsTheDirectoryUntilItDies() throws Exception {
        Process holder = ChildJvm.running(HoldStateDirectory.class, dir.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(holder.getInputStream(),
                    StandardCharsets.UTF_8));
            assertThat(out.readLine()).isEqualTo("holding " + dir);
            assertThatThrownBy(() -> StateDirectory.open(dir)).isInstanceOf(UnusableStateDirectory.class)
                    .hasMessageContaining("the state directory " + dir + " is in use by another agent (pid "
                            + holder.pid() + ")")
                    .hasMessageContaining("--state-dir");
        } finally {
            holder.destroyForcibly();
            assertThat(holder.waitFor(10, TimeUnit.SECONDS)).isTrue();
        }
        StateDirectory.open(dir).close();
    }

    @Test
    void newIdsAreWorkerIdsOfThisHost() {
        String id = StateDirectory.newWorkerId();
        assertThat(id).matches(WorkerLimits.WORKER_ID).isNotEqualTo(StateDirectory.newWorkerId());
    }
}
