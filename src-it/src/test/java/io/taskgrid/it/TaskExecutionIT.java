package io.taskgrid.it;

import jakarta.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static io.taskgrid.it.TaskgridClient.stringOrNull;
import static org.assertj.core.api.Assertions.assertThat;

/** What a task does on its way through a real master and real agents, and what the API says about it. */
@ExtendWith(SharedCluster.class)
class TaskExecutionIT {

    private final TaskgridClient api = SharedCluster.client();
    private static final Duration WAIT = Duration.ofSeconds(30);

    @Test
    void helloWorldSucceedsWithItsOutputRecorded() {
        TaskgridClient.Reply reply = api.post("/tasks", "application/json", "{\"cmd\":\"echo hello world\"}");
        assertThat(reply.status()).isEqualTo(202);
        JsonObject accepted = reply.json();
        String id = accepted.getString("id");
        assertThat(reply.header("Location")).endsWith("/tasks/" + id);
        assertThat(accepted.getString("cmd")).isEqualTo("echo hello world");
        assertThat(accepted.getString("submittedAt")).endsWith("Z");

        JsonObject done = api.awaitFinal(id, WAIT);
        assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
        assertThat(done.getInt("exitCode")).isZero();
        assertThat(done.getString("stdout")).isEqualTo("hello world\n");
        assertThat(done.getString("stderr")).isEmpty();
        assertThat(done.getBoolean("stdoutTruncated")).isFalse();
        assertThat(SharedCluster.cluster().configuredWorkerIds()).contains(done.getString("workerId"));
        Instant submitted = Instant.parse(done.getString("submittedAt"));
        Instant started = Instant.parse(done.getString("startedAt"));
        Instant finished = Instant.parse(done.getString("finishedAt"));
        assertThat(started).isAfterOrEqualTo(submitted);
        assertThat(finished).isAfterOrEqualTo(started);
        assertThat(stringOrNull(done, "reason")).isNull();
    }

    @Test
    void commandsRunInARealShellWithQuotingAndPipes() {
        String id = api.submit("""
                {"cmd": "printf '[%s]' \\"a  b\\" 'it''s' | tr a-z A-Z; echo; echo one two | wc -w"}
                """);
        JsonObject done = api.awaitFinal(id, WAIT);
        assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
        assertThat(done.getString("stdout")).isEqualTo("[A  B][ITS]\n2\n");
    }

    @Test
    void aNonZeroExitIsFailedWithItsStderr() {
        JsonObject done = api.awaitFinal(api.submitCmd("echo out; echo 'disk full' >&2; exit 3"), WAIT);
        assertThat(done.getString("state")).isEqualTo("FAILED");
        assertThat(done.getInt("exitCode")).isEqualTo(3);
        assertThat(done.getString("stdout")).isEqualTo("out\n");
        assertThat(done.getString("stderr")).isEqualTo("disk full\n");
    }

    @Test
    void environmentAndWorkingDirectoryReachTheCommand() {
        String id = api.submit("{\"cmd\":\"echo $GREETING; pwd\",\"env\":{\"GREETING\":\"hi there\"},\"cwd\":\"/tmp\"}");
        JsonObject done = api.awaitFinal(id, WAIT);
        assertThat(done.getString("stdout")).isEqualTo("hi there\n/tmp\n");
        assertThat(done.getJsonObject("env").getString("GREETING")).isEqualTo("hi there");
        assertThat(done.getString("cwd")).isEqualTo("/tmp");
    }

    @Test
    void aCommandPastItsTimeoutIsTimedOut() {
        String id = api.submit("{\"cmd\":\"echo begun; sleep 120\",\"timeoutSeconds\":1}");
        JsonObject done = api.awaitFinal(id, WAIT);
        assertThat(done.getString("state")).isEqualTo("TIMED_OUT");
        assertThat(done.getString("reason")).contains("timed out after 1 s");
        assertThat(done.getString("stdout")).isEqualTo("begun\n");
        assertThat(done.getJsonNumber("timeoutSeconds").longValue()).isEqualTo(1);
        Duration ran = Duration.between(Instant.parse(done.getString("startedAt")), Instant.parse(done.getString("finishedAt")));
        assertThat(ran).isLessThan(Duration.ofSeconds(10));
    }

    @Test
    void aMissingWorkingDirectoryFailsWithAReasonAndTheAgentCarriesOn() {
        JsonObject done = api.awaitFinal(api.submit("{\"cmd\":\"true\",\"cwd\":\"/no/such/dir\"}"), WAIT);
        assertThat(done.getString("state")).isEqualTo("FAILED");
        assertThat(done.getString("reason")).contains("/no/such/dir").contains("does not exist");
        assertThat(done.isNull("exitCode")).isTrue();
        assertThat(api.awaitFinal(api.submitCmd("echo still here"), WAIT).getString("stdout")).isEqualTo("still here\n");
        assertThat(api.workers()).hasSize(SharedCluster.cluster().config().workers());
    }

    @Test
    void outputBeyondTheCapIsTruncatedAndFlagged() {
        JsonObject done = api.awaitFinal(api.submitCmd("head -c 1500000 /dev/zero | tr '\\0' a; echo tail >&2"), WAIT);
        assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
        // The first and the last half of the cap, and a line for what went between.
        String half = "a".repeat(512 * 1024);
        assertThat(done.getString("stdout")).isEqualTo(half + "\n[taskgrid: 451424 bytes dropped]\n" + half);
        assertThat(done.getBoolean("stdoutTruncated")).isTrue();
        assertThat(done.getString("stderr")).isEqualTo("tail\n");
        assertThat(done.getBoolean("stderrTruncated")).isFalse();
    }

    @Test
    void listingIsNewestFirstFilteredByStateAndPagedWithACursor() {
        List<String> ids = List.of(api.submitCmd("echo 1"), api.submitCmd("echo 2"), api.submitCmd("echo 3"),
                api.submitCmd("exit 1"));
        ids.forEach(id -> api.awaitFinal(id, WAIT));

        JsonObject first = api.get("/tasks?limit=2").json();
        List<String> page1 = first.getJsonArray("tasks").getValuesAs(JsonObject.class).stream()
                .map(t -> t.getString("id")).toList();
        assertThat(page1).containsExactly(ids.get(3), ids.get(2));
        String next = first.getString("next");
        JsonObject second = api.get("/tasks?limit=2&cursor=" + next).json();
        List<String> page2 = second.getJsonArray("tasks").getValuesAs(JsonObject.class).stream()
                .map(t -> t.getString("id")).toList();
        assertThat(page2).containsExactly(ids.get(1), ids.get(0));

        Set<String> failed = new HashSet<>();
        api.get("/tasks?state=FAILED&limit=1000").json().getJsonArray("tasks").getValuesAs(JsonObject.class)
                .forEach(t -> {
                    assertThat(t.getString("state")).isEqualTo("FAILED");
                    failed.add(t.getString("id"));
                });
        assertThat(failed).contains(ids.get(3)).doesNotContain(ids.get(0));
        assertThat(api.get("/tasks?state=succeeded&limit=1").json().getJsonArray("tasks")).hasSize(1);
    }

    @Test
    void theLastPageHasNoNextCursor() {
        JsonObject page = api.get("/tasks?limit=1000&state=CANCELLED").json();
        assertThat(page.isNull("next")).isTrue();
    }

    @Test
    void workersAreListedWithTheirSlots() {
        JsonObject reply = api.get("/workers").json();
        int expected = SharedCluster.cluster().config().workers();
        assertThat(reply.getInt("count")).isEqualTo(expected);
        List<JsonObject> workers = reply.getJsonArray("workers").getValuesAs(JsonObject.class);
        assertThat(workers).extracting(w -> w.getString("id"))
                .containsExactlyInAnyOrderElementsOf(SharedCluster.cluster().configuredWorkerIds());
        for (JsonObject worker : workers) {
            assertThat(worker.getInt("slots")).isEqualTo(1);
            assertThat(worker.getInt("running")).isBetween(0, 1);
            assertThat(Instant.parse(worker.getString("connectedAt"))).isBeforeOrEqualTo(Instant.now());
            assertThat(Instant.parse(worker.getString("lastSeenAt")))
                    .isAfterOrEqualTo(Instant.parse(worker.getString("connectedAt")));
        }
    }
}
