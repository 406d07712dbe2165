package io.taskgrid.agent;

import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.Phase;
import io.taskgrid.proto.v1.StatusReport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class OutboxTest {

    @TempDir
    Path dir;

    private static StatusReport report(String attempt) {
        return StatusReport.newBuilder().setWorkerId("w1").setTaskId("task-" + attempt).setAttemptId(attempt)
                .setPhase(Phase.FINISHED).setOutcome(Outcome.EXITED).setExitCode(3).build();
    }

    @Test
    void aStoredResultOutlivesTheAgentThatStoredIt() {
        new Outbox(dir).save(report("a2"));
        new Outbox(dir).save(report("a1"));
        Outbox afterRestart = new Outbox(dir);
        assertThat(afterRestart.pending()).containsExactly(report("a1"), report("a2"));
        afterRestart.remove(report("a1"));
        assertThat(new Outbox(dir).pending()).containsExactly(report("a2"));
    }

    @Test
    void savingTheSameAttemptTwiceKeepsOneFile() {
        Outbox outbox = new Outbox(dir);
        outbox.save(report("a1"));
        outbox.save(report("a1"));
        assertThat(outbox.pending()).hasSize(1);
    }

    @Test
    void anUnreadableFileIsSkippedNotFatal() throws Exception {
        Outbox outbox = new Outbox(dir);
        outbox.save(report("a1"));
        Files.write(dir.resolve("broken.report"), new byte[]{(byte) 0xff, (byte) 0xff, (byte) 0xff});
        assertThat(outbox.pending()).containsExactly(report("a1"));
    }

    @Test
    void attemptIdsCannotEscapeTheDirectory() {
        Outbox outbox = new Outbox(dir);
        assertThatThrownBy(() -> outbox.save(report("../../etc/x"))).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aNewStateDirectoryAndItsResultsAreTheAgentUsersAlone() throws Exception {
        Path state = dir.resolve("agents/w1");
        Outbox outbox = new Outbox(state);
        outbox.save(report("a1"));
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(state))).isEqualTo("rwx------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(state.getParent()))).isEqualTo("rwx------");
        try (var files = Files.list(state)) {
            assertThat(files.toList()).singleElement().satisfies(file ->
                    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------"));
        }
    }

    @Test
    void anExistingDirectoryOpenToOthersIsClosed() throws Exception {
        Path state = Files.createDirectory(dir.resolve("open"));
        Files.setPosixFilePermissions(state, PosixFilePermissions.fromString("rwxrwxrwx"));
        new Outbox(state);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(state))).isEqualTo("rwx------");
    }

    @Test
    void aDirectoryOwnedBySomeoneElseIsRefused() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(CommandRunTest.isRoot(), "giving a directory away needs root");
        Path state = Files.createDirectory(dir.resolve("theirs"));
        Files.setAttribute(state, "unix:uid", 65534);
        assertThatThrownBy(() -> new Outbox(state)).isInstanceOf(UnusableStateDirectory.class)
                .hasMessageContaining("belongs to uid 65534");
    }

    @Test
    void aSymbolicLinkIsNoStateDirectory() throws Exception {
        Path real = Files.createDirectory(dir.resolve("real"));
        Path link = Files.createSymbolicLink(dir.resolve("link"), real);
        assertThatThrownBy(() -> new Outbox(link)).isInstanceOf(UnusableStateDirectory.class)
                .hasMessageContaining("symbolic link");
    }
}
