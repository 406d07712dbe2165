package io.taskgrid.it;

import io.taskgrid.it.cluster.LocalCluster;
import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.net.URI;
import java.net.http.HttpRequest;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.StringJoiner;
import java.util.UUID;
import java.util.function.IntFunction;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * POST /tasks with an array: a batch checked whole, stored whole, answered with its ids in order, and run. The shared
 * cluster's queue holds {@link SharedCluster#QUEUE_MAX} tasks, so the batch that runs is as large as that allows (all
 * 1,000 once the cap is 1,050 or more), and a batch of 1,000 shows the cap applying to a batch as a whole.
 */
@ExtendWith(SharedCluster.class)
class BatchSubmitIT {

    private final TaskgridClient api = SharedCluster.client();
    private final LocalCluster cluster = SharedCluster.cluster();
    private static final int RUN_SIZE = Math.min(1000, SharedCluster.QUEUE_MAX - 50);

    private static String batch(int size, IntFunction<String> element) {
        StringJoiner body = new StringJoiner(",", "[", "]");
        for (int i = 0; i < size; i++) {
            body.add(element.apply(i));
        }
        return body.toString();
    }

    private TaskgridClient.Reply post(String body, String key) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(cluster.config().apiBase() + "/tasks"))
                .timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) {
            request.header("Idempotency-Key", key);
        }
        return api.send(request.build());
    }

    private static List<String> ids(TaskgridClient.Reply reply) {
        return reply.json().getJsonArray("ids").getValuesAs(JsonString.class).stream().map(JsonString::getString)
                .toList();
    }

    /** Every task this master has stored, in any state; past the second for which the counts are kept. */
    private long stored() {
        TaskgridClient.sleep(1100);
        TaskgridClient.Reply counts = api.get("/tasks/counts");
        assertThat(counts.status()).isEqualTo(200);
        return counts.json().getJsonNumber("total").longValue();
    }

    @Test
    void aBatchOfTrueRunsIsAnsweredInOrderAndEveryTaskSucceeds() {
        TaskgridClient.Reply reply = post(batch(RUN_SIZE, i -> "{\"cmd\":\"true # " + i + "\"}"), null);
        assertThat(reply.status()).as(reply.body()).isEqualTo(202);
        assertThat(reply.header("Location")).isNull();
        List<String> ids = ids(reply);
        assertThat(ids).hasSize(RUN_SIZE);
        assertThat(new HashSet<>(ids)).hasSize(RUN_SIZE);
        // In the order of the submissions: each id's task holds the command sent at that index.
        for (int i : new int[] {0, 1, RUN_SIZE / 2, RUN_SIZE - 1}) {
            assertThat(api.task(ids.get(i)).getString("cmd")).isEqualTo("true # " + i);
        }
        for (String id : ids) {
            JsonObject task = api.awaitFinal(id, Duration.ofMinutes(5));
            assertThat(task.getString("state")).as(id).isEqualTo("SUCCEEDED");
        }
    }

    @Test
    void aBatchWithOneBadSubmissionIsRefusedWholeNamingItsIndexAndStoresNothing() {
        long before = stored();
        TaskgridClient.Reply reply = post(batch(10, i -> i == 7 ? "{\"cmd\":\"true\",\"timeoutSeconds\":0}"
                : "{\"cmd\":\"true\"}"), null);
        assertThat(reply.status()).isEqualTo(400);
        assertThat(reply.contentType()).startsWith("application/problem+json");
        assertThat(reply.json().getString("detail")).startsWith("submission 7: 'timeoutSeconds'");
        assertThat(reply.json().getInt("index")).isEqualTo(7);
        assertThat(stored()).isEqualTo(before);

        assertThat(post("[]", null).status()).isEqualTo(400);
        TaskgridClient.Reply tooMany = post(batch(1001, i -> "{\"cmd\":\"true\"}"), null);
        assertThat(tooMany.status()).isEqualTo(400);
        assertThat(tooMany.json().getString("detail")).contains("1001");
        assertThat(stored()).isEqualTo(before);
    }

    @Test
    void aRepeatWithTheSameKeyAndBodyAnswersTheSameIdsAndCreatesNothing() {
        String key = "batch-" + UUID.randomUUID();
        String body = batch(3, i -> "{\"cmd\":\"echo " + i + "\"}");
        TaskgridClient.Reply first = post(body, key);
        assertThat(first.status()).as(first.body()).isEqualTo(202);
        long after = stored();

        TaskgridClient.Reply again = post(body.replace(",", " , "), key);
        assertThat(again.status()).as(again.body()).isEqualTo(200);
        assertThat(ids(again)).isEqualTo(ids(first));
        assertThat(stored()).isEqualTo(after);

        TaskgridClient.Reply other = post(batch(3, i -> "{\"cmd\":\"echo " + (i + 1) + "\"}"), key);
        assertThat(other.status()).isEqualTo(422);
        assertThat(other.contentType()).startsWith("application/problem+json");
        TaskgridClient.Reply single = post("{\"cmd\":\"echo 0\"}", key);
        assertThat(single.status()).as("a single submission under a batch's key").isEqualTo(422);
        assertThat(stored()).isEqualTo(after);
        for (String id : ids(first)) {
            assertThat(api.awaitFinal(id, Duration.ofMinutes(2)).getString("state")).isEqualTo("SUCCEEDED");
        }
    }

    @Test
    void aBatchBeyondWhatTheQueueMayHoldIsRefusedWholeAndStoresNothing() {
        long before = stored();
        TaskgridClient.Reply reply = post(batch(Math.max(1000, SharedCluster.QUEUE_MAX + 1),
                i -> "{\"cmd\":\"true\"}"), null);
        assertThat(reply.status()).as(reply.body()).isEqualTo(503);
        assertThat(reply.header("Retry-After")).isNotNull();
        assertThat(reply.json().getString("detail")).contains("nothing of the batch was accepted");
        assertThat(stored()).isEqualTo(before);
    }
}
