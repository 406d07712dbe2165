package io.taskgrid.master.api;

import io.taskgrid.master.output.StdStream;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The parameters of GET /tasks/{id}/output: every bad one is a 400 that says what to send instead. */
class TaskOutputsTest {

    @Test
    void defaultsAreStdoutFromTheStartNotFollowed() {
        TaskOutputs.Request request = TaskOutputs.parse(null, null, null, null, null);
        assertThat(request.streams()).containsExactly(StdStream.STDOUT);
        assertThat(request.cursors()).containsExactly(0L);
        assertThat(request.follow()).isFalse();
    }

    @Test
    void followingIsAskedForByParameterOrByAccept() {
        assertThat(TaskOutputs.parse("stderr", "12", "true", null, null).follow()).isTrue();
        assertThat(TaskOutputs.parse(null, null, null, "text/event-stream", null).follow()).isTrue();
        TaskOutputs.Request both = TaskOutputs.parse("both", "5,7", "true", null, "10,20");
        assertThat(both.streams()).containsExactly(StdStream.STDOUT, StdStream.STDERR);
        assertThat(both.cursors()).as("Last-Event-ID wins over offset").containsExactly(10L, 20L);
        assertThat(TaskOutputs.parse("both", "5,7", null, null, "10,20").cursors())
                .as("Last-Event-ID matters only when following").containsExactly(5L, 7L);
    }

    @Test
    void badParametersAreRefused() {
        for (String[] bad : new String[][] {
                {"stdin", null, null, null}, {null, "-1", null, null}, {null, "1e3", null, null},
                {null, "99999999999999999", null, null}, {null, "4503599627370497", null, null},
                {null, "1,2", null, null}, {"both", "1", null, null}, {"both", "1,", null, null},
                {null, null, "yes", null}, {null, null, "true", "abc"}, {null, null, "true", "1\n2"}}) {
            assertThatThrownBy(() -> TaskOutputs.parse(bad[0], bad[1], bad[2], null, bad[3]))
                    .as(String.join("|", String.valueOf(bad[0]), String.valueOf(bad[1]), String.valueOf(bad[2]),
                            String.valueOf(bad[3])))
                    .isInstanceOfSatisfying(ApiProblem.class, p -> assertThat(p.status()).isEqualTo(400));
        }
    }

    @Test
    void eventIdsAreTheOffsets() {
        assertThat(TaskOutputs.eventId(new long[] {42})).isEqualTo("42");
        assertThat(TaskOutputs.eventId(new long[] {42, 7})).isEqualTo("42,7");
    }
}
