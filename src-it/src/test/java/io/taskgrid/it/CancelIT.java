package io.taskgrid.it;

import io.taskgrid.it.bench.ProcStat;
import io.taskgrid.it.cluster.LocalCluster;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;

/** DELETE /tasks/{id} against real agents and real process trees. */
@ExtendWith(SharedCluster.class)
class CancelIT {

    private final TaskgridClient api = SharedCluster.client();
    private final LocalCluster cluster = SharedCluster.cluster();
    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path markers;

    private TaskgridClient.Reply delete(String id) {
        return api.send(HttpRequest.newBuilder(URI.create(cluster.config().apiBase() + "/tasks/" + id)).DELETE().build());
    }

    @Test
    void aQueuedTaskIsCancelledAtOnceAndNeverRuns() {
        List<String> blockers = new ArrayList<>();
        for (int i = 0; i < cluster.config().workers(); i++) {
            blockers.add(api.submitCmd("sleep 2"));
        }
        blockers.forEach(id -> api.awaitState(id, Set.of("RUNNING"), WAIT));
        Path ran = markers.resolve("ran");
        String id = api.submitCmd("touch " + ran);

        TaskgridClient.Reply reply = delete(id);
        assertThat(reply.status()).isEqualTo(200);
        assertThat(reply.json().getString("state")).isEqualTo("CANCELLED");
        blockers.forEach(b -> api.awaitFinal(b, WAIT));
        api.awaitFinal(api.submitCmd("true"), WAIT);
        assertThat(api.state(id)).isEqualTo("CANCELLED");
        assertThat(ran).doesNotExist();
    }

    @Test
    void aRunningTaskHasItsWholeProcessTreeStoppedAndEndsCancelled() throws Exception {
        Path pids = markers.resolve("pids");
        String id = api.submitCmd("sleep 300 & echo $! >> " + pids + "; sh -c 'sleep 301' & echo $! >> " + pids
                + "; echo $$ >> " + pids + "; wait");
        api.awaitState(id, Set.of("RUNNING"), WAIT);
        awaitLines(pids, 3);

        TaskgridClient.Reply reply = delete(id);
        assertThat(reply.status()).isEqualTo(202);
        assertThat(reply.json().getBoolean("cancelRequested")).isTrue();
        JsonObject done = api.awaitFinal(id, Duration.ofSeconds(30));
        assertThat(done.getString("state")).isEqualTo("CANCELLED");
        assertThat(done.getJsonArray("attempts").getValuesAs(JsonObject.class).get(0).getString("outcome"))
                .isEqualTo("CANCELLED");
        for (String pid : Files.readAllLines(pids)) {
            assertThat(running(Long.parseLong(pid.trim()))).as("process " + pid + " of the cancelled task").isFalse();
        }
    }

    @Test
    void cancellingAFinishedTaskIs409AndChangesNothingAndCancellingTwiceIsHarmless() {
        String finished = api.submitCmd("echo done");
        api.awaitFinal(finished, WAIT);
        TaskgridClient.Reply reply = delete(finished);
        assertThat(reply.status()).isEqualTo(409);
        assertThat(reply.contentType()).startsWith("application/problem+json");
        assertThat(reply.json().getString("detail")).contains("already SUCCEEDED");
        assertThat(api.state(finished)).isEqualTo("SUCCEEDED");

        String running = api.submitCmd("sleep 30");
        api.awaitState(running, Set.of("RUNNING"), WAIT);
        assertThat(delete(running).status()).isEqualTo(202);
        assertThat(delete(running).status()).isIn(202, 409);
        assertThat(api.awaitFinal(running, Duration.ofSeconds(30)).getString("state")).isEqualTo("CANCELLED");
        assertThat(delete(running).status()).isEqualTo(409);
        assertThat(delete("01234567-89ab-7def-8123-456789abcdef").status()).isEqualTo(404);
    }

    /** Still there and neither a zombie (Z) nor dead (X): a killed process lingers as a zombie until it is reaped. */
    private static boolean running(long pid) {
        return ProcStat.state(pid).map(state -> state != 'Z' && state != 'X').orElse(false);
    }

    private static void awaitLines(Path file, int lines) {
        poll(Duration.ofSeconds(20), Duration.ofMillis(50)).alias(file + " has " + lines + " lines")
                .until(() -> Files.exists(file) && Files.readAllLines(file).size() >= lines);
    }
}
