package io.taskgrid.it;

import io.taskgrid.it.cluster.LocalCluster;
import jakarta.json.Json;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Labels and priorities on the real cluster: a task that requires labels runs only on an agent started with them,
 * says why it waits meanwhile and holds up nobody; a later urgent task overtakes earlier ones on a busy worker. Each
 * test starts an agent of its own with a label no other agent carries, so the cluster's agents never take its tasks.
 */
@ExtendWith(SharedCluster.class)
class RoutingIT {

    private final LocalCluster cluster = SharedCluster.cluster();
    private final TaskgridClient api = SharedCluster.client();

    private Process labelledAgent(String id, Path dir, String... labels) throws Exception {
        return labelledAgent(id, dir, List.of(), labels);
    }

    private Process labelledAgent(String id, Path dir, List<String> flags, String... labels) throws Exception {
        List<String> args = new ArrayList<>(List.of("--state-dir", dir.resolve(id).toString()));
        args.addAll(flags);
        for (String label : labels) {
            args.add("--label");
            args.add(label);
        }
        Process agent = AgentProcess.agent().id(id).master(cluster.config().grpcTarget()).args(args)
                .joinToken(cluster.joinToken())
                .log(Path.of(SharedCluster.property("taskgrid.log.dir"), id + ".log")).start();
        poll(Duration.ofSeconds(30), Duration.ofMillis(100)).alias(id + " connects")
                .until(() -> api.workers().stream().anyMatch(w -> w.getString("id").equals(id)));
        return agent;
    }

    private static void stop(Process agent) throws InterruptedException {
        agent.destroy();
        agent.waitFor(30, TimeUnit.SECONDS);
    }

    private String submit(String cmd, int priority, String zone) {
        return api.submit(Json.createObjectBuilder().add("cmd", cmd).add("priority", priority)
                .add("requires", Json.createObjectBuilder().add("zone", zone)).build().toString());
    }

    @Test
    void aTaskRequiringALabelWaitsSayingWhyWithoutHoldingUpOthersAndRunsWhereTheLabelIs(@TempDir Path dir)
            throws Exception {
        String zone = "it-" + UUID.randomUUID().toString().substring(0, 8);
        String routed = submit("echo routed", 5, zone);
        JsonObject waiting = api.task(routed);
        assertThat(waiting.getString("state")).isEqualTo("QUEUED");
        assertThat(waiting.getString("waiting")).isEqualTo("no connected worker has zone=" + zone);
        assertThat(waiting.getJsonObject("requires")).isEqualTo(Json.createObjectBuilder().add("zone", zone).build());

        JsonObject plain = api.awaitFinal(api.submitCmd("echo plain"), Duration.ofSeconds(30));
        assertThat(plain.getString("state")).as("a task behind the waiting one").isEqualTo("SUCCEEDED");
        assertThat(api.state(routed)).isEqualTo("QUEUED");

        String id = "routed-" + zone;
        Process agent = labelledAgent(id, dir, "zone=" + zone, "os=linux");
        try {
            JsonObject done = api.awaitFinal(routed, Duration.ofSeconds(30));
            assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
            assertThat(done.getString("workerId")).isEqualTo(id);
            assertThat(done.getString("stdout")).isEqualTo("routed\n");
            assertThat(done.isNull("waiting")).isTrue();
            JsonObject worker = api.workers().stream().filter(w -> w.getString("id").equals(id)).findFirst()
                    .orElseThrow();
            assertThat(worker.getJsonObject("labels")).isEqualTo(Json.createObjectBuilder().add("os", "linux")
                    .add("zone", zone).build());
        } finally {
            stop(agent);
        }
    }

    /** Priority holds when a task is handed out: on an agent that prefetches nothing, that is when it starts. */
    @Test
    void aLaterUrgentTaskOvertakesEarlierOnesOnABusyWorker(@TempDir Path dir) throws Exception {
        String zone = "it-" + UUID.randomUUID().toString().substring(0, 8);
        Process agent = labelledAgent("busy-" + zone, dir, List.of("--prefetch", "0"), "zone=" + zone);
        try {
            String blocker = submit("sleep 2", 5, zone);
            api.awaitState(blocker, Set.of("RUNNING"), Duration.ofSeconds(30));
            String low1 = submit("true", 1, zone);
            String low2 = submit("true", 1, zone);
            String normal = submit("true", 5, zone);
            String urgent = submit("true", 9, zone);
            Map<String, Instant> started = new HashMap<>();
            for (String id : List.of(low1, low2, normal, urgent)) {
                JsonObject done = api.awaitFinal(id, Duration.ofSeconds(30));
                assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
                assertThat(done.getInt("priority")).isIn(1, 5, 9);
                started.put(id, Instant.parse(done.getString("startedAt")));
            }
            assertThat(started.get(urgent)).isBefore(started.get(normal));
            assertThat(started.get(normal)).isBefore(started.get(low1));
            assertThat(started.get(low1)).isBefore(started.get(low2));
        } finally {
            stop(agent);
        }
    }

    @Test
    void badLabelsAndPrioritiesAreRefusedWithTheRule() {
        TaskgridClient.Reply badLabel = api.post("/tasks", "application/json",
                "{\"cmd\":\"true\",\"requires\":{\"os\":\"linux; rm -rf /\"}}");
        assertThat(badLabel.status()).isEqualTo(400);
        assertThat(badLabel.contentType()).startsWith("application/problem+json");
        assertThat(badLabel.json().getString("detail")).contains("may hold only letters, digits");
        TaskgridClient.Reply badPriority = api.post("/tasks", "application/json", "{\"cmd\":\"true\",\"priority\":10}");
        assertThat(badPriority.status()).isEqualTo(400);
        assertThat(badPriority.json().getString("detail")).contains("'priority' must be a whole number from 0 to 9");
    }
}
