package io.taskgrid.master.grpc;

import io.taskgrid.master.config.TaskgridConfig;
import io.taskgrid.proto.WorkerLimits;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A final report carries the kept output of both streams, up to twice the output cap: more than a connection's bound
 * of queued bytes. It must still be taken while the connection's output call holds a chunk's worth, or a task that
 * printed past about half a mebibyte never ends (its agent is told RESOURCE_EXHAUSTED for good).
 */
class AgentBoundsReportTest {

    private static final long MIB = 1024 * 1024;

    private final TaskgridConfig config = AgentBoundsFixture.config("unused", 1000, 4096, 32 * MIB, 64 * MIB);
    private final AgentBounds bounds = new AgentBounds(config);
    private final AgentBounds.Connection connection = new AgentBounds.Connection();
    private final AgentBounds.Token token = bounds.token("join.initial");

    @Test
    void aReportLargerThanTheConnectionsBoundIsTakenWhileAChunkIsHeld() {
        assertThat(bounds.tryTake(connection, token, 64 * 1024)).as("a chunk in flight").isTrue();
        long report = 2 * MIB + 200;
        assertThat(report).isGreaterThan(WorkerLimits.MAX_QUEUED_BYTES_PER_CONNECTION);
        assertThat(bounds.tryTakeReport(connection, token, report)).isTrue();
        // One such report at a time: a second one waits (the agent sends it again later).
        assertThat(bounds.tryTakeReport(connection, token, report)).isFalse();
        bounds.giveReport(connection, token, report);
        assertThat(bounds.tryTakeReport(connection, token, report)).isTrue();
    }

    @Test
    void theJoinTokensBoundStillHoldsForReports() {
        AgentBounds small = new AgentBounds(AgentBoundsFixture.config("unused", 1000, 4096, 3 * MIB, 64 * MIB));
        AgentBounds.Token shared = small.token("join.initial");
        AgentBounds.Connection other = new AgentBounds.Connection();
        assertThat(small.tryTakeReport(other, shared, 2 * MIB)).isTrue();
        assertThat(small.tryTakeReport(connection, shared, 2 * MIB)).as("3 MiB for the token").isFalse();
    }
}
