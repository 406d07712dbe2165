package io.taskgrid.master.api;

import io.taskgrid.master.config.TaskgridConfig;
import io.taskgrid.master.output.OutputStore;
import io.taskgrid.master.output.StdStream;
import io.taskgrid.master.task.TaskIds;
import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.task.TestDatabase;
import jakarta.ws.rs.core.StreamingOutput;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.sql.DataSource;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

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

    @Test
    void followersBeyondTheLimitGet503AndOneThatEndedFreesItsPlace(@TempDir Path dir) throws Exception {
        DataSource db = TestDatabase.h2(dir);
        TaskStore tasks = TestDatabase.openStore(dir);
        OutputStore store = new OutputStore(db, 1024, TestDatabase.threads());
        try {
            String id = TaskIds.next();
            TestDatabase.execute(db, "INSERT INTO TG_TASK (ID, CMD, STATE, SUBMITTED_AT, STDOUT_TEXT) VALUES ('" + id
                    + "', 'echo hello', 'SUCCEEDED', CURRENT_TIMESTAMP, 'hello' || CHAR(10))");
            TaskOutputs outputs = new TaskOutputs();
            outputs.store = store;
            outputs.config = TaskgridConfig.defaults().withMaxOutputFollowers(1);
            TaskOutputs.Request follow = TaskOutputs.parse(null, null, "true", null, null);

            StreamingOutput first = outputs.follower(id, follow, "viewer");
            assertThatThrownBy(() -> outputs.follower(id, follow, "viewer")).isInstanceOfSatisfying(ApiProblem.class, p -> {
                assertThat(p.status()).isEqualTo(503);
                assertThat(p.headers()).containsKey("Retry-After");
            });
            assertThatThrownBy(() -> outputs.follower(TaskIds.next(), follow, "viewer"))
                    .isInstanceOfSatisfying(ApiProblem.class, p -> assertThat(p.status()).isEqualTo(404));

            // A task that ended before it was followed (its agent streamed nothing): its output, then the end.
            ByteArrayOutputStream events = new ByteArrayOutputStream();
            first.write(events);
            assertThat(events.toString(StandardCharsets.UTF_8))
                    .contains("id: 6\nevent: output\ndata: {\"stream\":\"stdout\",\"offset\":0,\"text\":\"hello\\n\"}")
                    .endsWith("event: end\ndata: {\"state\":\"SUCCEEDED\",\"stdoutTruncated\":false,"
                            + "\"stderrTruncated\":false,\"exitCode\":null}\n\n");
            assertThat(outputs.follower(id, follow, "viewer")).as("the place is free again").isNotNull();
        } finally {
            store.close();
            tasks.close();
        }
    }

    @Test
    void oneCallerHoldsOnlyItsShareOfTheFollowsAndAFollowOfATaskWhereNothingHappensEnds(@TempDir Path dir)
            throws Exception {
        DataSource db = TestDatabase.h2(dir);
        TaskStore tasks = TestDatabase.openStore(dir);
        OutputStore store = new OutputStore(db, 1024, TestDatabase.threads());
        try {
            // A task that never starts: queued, and no worker will ever take it.
            String id = TaskIds.next();
            TestDatabase.execute(db, "INSERT INTO TG_TASK (ID, CMD, STATE, SUBMITTED_AT) VALUES ('" + id
                    + "', 'true', 'QUEUED', CURRENT_TIMESTAMP)");
            TaskOutputs outputs = new TaskOutputs();
            outputs.store = store;
            outputs.config = TaskgridConfig.defaults().withMaxOutputFollowers(8).withMaxOutputFollowersPerCaller(2);
            outputs.idleMillis = 500;
            TaskOutputs.Request follow = TaskOutputs.parse(null, null, "true", null, null);

            StreamingOutput first = outputs.follower(id, follow, "mallory");
            outputs.follower(id, follow, "mallory");
            assertThatThrownBy(() -> outputs.follower(id, follow, "mallory")).isInstanceOfSatisfying(ApiProblem.class,
                    p -> {
                        assertThat(p.status()).isEqualTo(429);
                        assertThat(p.getMessage()).contains("taskgrid.output.max.followers.per.caller");
                    });
            assertThat(outputs.follower(id, follow, "alice")).as("another caller still follows").isNotNull();

            ByteArrayOutputStream events = new ByteArrayOutputStream();
            long start = System.nanoTime();
            first.write(events);
            assertThat(java.time.Duration.ofNanos(System.nanoTime() - start)).isLessThan(java.time.Duration.ofSeconds(10));
            assertThat(events.toString(StandardCharsets.UTF_8))
                    .endsWith("event: idle\ndata: {\"state\":\"QUEUED\",\"idleSeconds\":0}\n\n");
            assertThat(outputs.follower(id, follow, "mallory")).as("the ended follow gave its place back").isNotNull();
        } finally {
            store.close();
            tasks.close();
        }
    }
}
