package io.taskgrid.it;

import io.taskgrid.it.cluster.LocalCluster;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.assertj.core.api.Assertions.assertThat;

/** Idempotent submission, the queue cap, retries of failed commands, and draining a worker. */
@ExtendWith(SharedCluster.class)
class IntakeIT {

    private final TaskgridClient api = SharedCluster.client();
    private final LocalCluster cluster = SharedCluster.cluster();
    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path markers;

    private TaskgridClient.Reply submitWithKey(String key, String body) {
        return api.send(HttpRequest.newBuilder(URI.create(cluster.config().apiBase() + "/tasks"))
                .header("Content-Type", "application/json").header("Idempotency-Key", key)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build());
    }

    @Test
    void theSameKeyAndBodyReturnTheOriginalTaskAndADifferentBodyIs422() {
        String key = "order-" + UUID.randomUUID();
        TaskgridClient.Reply first = submitWithKey(key, "{\"cmd\": \"echo once\"}");
        assertThat(first.status()).isEqualTo(202);
        String id = first.json().getString("id");

        TaskgridClient.Reply again = submitWithKey(key, "{ \"cmd\" : \"echo once\" }");
        assertThat(again.status()).isEqualTo(200);
        assertThat(again.json().getString("id")).isEqualTo(id);

        TaskgridClient.Reply other = submitWithKey(key, "{\"cmd\": \"echo twice\"}");
        assertThat(other.status()).isEqualTo(422);
        assertThat(other.contentType()).startsWith("application/problem+json");
        assertThat(other.json().getString("detail")).contains(key).contains(id);

        assertThat(api.awaitFinal(id, WAIT).getString("stdout")).isEqualTo("once\n");
        assertThat(submitWithKey("has space", "{\"cmd\": \"true\"}").status()).isEqualTo(400);
    }

    @Test
    void concurrentSubmissionsWithOneKeyCreateOneTask() throws Exception {
        String key = "race-" + UUID.randomUUID();
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<TaskgridClient.Reply>> replies = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                replies.add(pool.submit(() -> submitWithKey(key, "{\"cmd\": \"echo raced\"}")));
            }
            List<String> ids = new ArrayList<>();
            int created = 0;
            for (Future<TaskgridClient.Reply> reply : replies) {
                TaskgridClient.Reply r = reply.get();
                assertThat(r.status()).as(r.body()).isIn(200, 202);
                created += r.status() == 202 ? 1 : 0;
                ids.add(r.json().getString("id"));
            }
            assertThat(created).isEqualTo(1);
            assertThat(ids).containsOnly(ids.get(0));
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void beyondTheQueueCapSubmissionsGet503WithRetryAfterAndNothingAcceptedIsLost() {
        List<String> blockers = new ArrayList<>();
        // Long enough that the queue fills however slowly this machine submits; cancelled once it has.
        for (int i = 0; i < cluster.config().workers(); i++) {
            blockers.add(api.submitCmd("sleep 120"));
        }
        blockers.forEach(id -> api.awaitState(id, Set.of("RUNNING"), WAIT));

        List<String> accepted = new ArrayList<>();
        TaskgridClient.Reply refused = null;
        long slowest = 0;
        for (int i = 0; i < SharedCluster.QUEUE_MAX + 50 && refused == null; i++) {
            long start = System.nanoTime();
            TaskgridClient.Reply reply = api.post("/tasks", "application/json", "{\"cmd\": \"echo " + i + "\"}");
            slowest = Math.max(slowest, (System.nanoTime() - start) / 1_000_000);
            if (reply.status() == 202) {
                accepted.add(reply.json().getString("id"));
            } else {
                refused = reply;
            }
        }
        System.out.printf("queue cap %d: %d accepted, then 503; slowest submission %d ms%n",
                SharedCluster.QUEUE_MAX, accepted.size(), slowest);
        assertThat(refused).isNotNull();
        assertThat(refused.status()).isEqualTo(503);
        assertThat(refused.header("Retry-After")).isNotBlank();
        assertThat(refused.contentType()).startsWith("application/problem+json");
        assertThat(accepted.size()).isGreaterThanOrEqualTo(SharedCluster.QUEUE_MAX - 10);
        assertThat(slowest).isLessThan(2000);
        blockers.forEach(id -> assertThat(api.delete("/tasks/" + id).status()).isIn(200, 202));
        for (String id : accepted) {
            assertThat(api.awaitFinal(id, Duration.ofMinutes(2)).getString("state")).isEqualTo("SUCCEEDED");
        }
    }

    @Test
    void aNonZeroExitIsRetriedOnlyWhenTheTaskAsksForIt() {
        Path counter = markers.resolve("count");
        String flaky = "n=$(cat " + counter + " 2>/dev/null || echo 0); n=$((n+1)); echo $n > " + counter
                + "; echo run $n; [ $n -ge 3 ]";
        String retried = api.submit("{\"cmd\": \"" + flaky + "\", \"retries\": 2}");
        JsonObject done = api.awaitFinal(retried, WAIT);
        assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
        assertThat(done.getString("stdout")).isEqualTo("run 3\n");
        assertThat(done.getJsonArray("attempts").getValuesAs(JsonObject.class))
                .extracting(a -> a.getString("outcome")).containsExactly("FAILED", "FAILED", "SUCCEEDED");

        JsonObject once = api.awaitFinal(api.submitCmd("echo no; exit 4"), WAIT);
        assertThat(once.getString("state")).isEqualTo("FAILED");
        assertThat(once.getJsonArray("attempts")).hasSize(1);
    }

    @Test
    void aDrainedWorkerFinishesWhatItRunsAndGetsNothingNew() {
        String drained = cluster.configuredWorkerIds().get(0);
        List<String> running = new ArrayList<>();
        for (int i = 0; i < cluster.config().workers(); i++) {
            running.add(api.submitCmd("sleep 2; echo finished " + i));
        }
        running.forEach(id -> api.awaitState(id, Set.of("RUNNING"), WAIT));
        try {
            TaskgridClient.Reply reply = api.post("/workers/" + drained + "/drain", "application/json", "");
            assertThat(reply.status()).isEqualTo(200);
            assertThat(reply.json().getBoolean("draining")).isTrue();
            List<String> after = new ArrayList<>();
            for (int i = 0; i < 9; i++) {
                after.add(api.submitCmd("echo after drain " + i));
            }
            running.forEach(id -> assertThat(api.awaitFinal(id, WAIT).getString("state")).isEqualTo("SUCCEEDED"));
            for (String id : after) {
                JsonObject done = api.awaitFinal(id, WAIT);
                assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
                assertThat(done.getString("workerId")).isNotEqualTo(drained);
            }
            assertThat(api.post("/workers/nobody/drain", "application/json", "").status()).isEqualTo(404);
        } finally {
            // A drain lasts until the agent reconnects; the next test gets a fresh one.
            cluster.stopAgent(drained);
        }
    }
}
