package io.taskgrid.agent;

import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.Phase;
import io.taskgrid.proto.v1.StatusReport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

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
}
