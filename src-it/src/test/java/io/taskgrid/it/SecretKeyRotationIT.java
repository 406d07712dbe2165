package io.taskgrid.it;

import io.taskgrid.it.cluster.ClusterConfig;
import io.taskgrid.it.cluster.LocalCluster;
import io.taskgrid.it.cluster.ServerLayout;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The key that seals secretEnv is rotated end to end on a master of its own (ports 19397/19358): tasks sealed under the
 * old key still run with their secrets after a new key took over; a re-seal moves every stored value to the current
 * key, after which the old keys can leave the file and the tasks still run. The tasks wait, queued, for a label that
 * only an agent started later offers.
 */
class SecretKeyRotationIT {

    private static final Duration WAIT = Duration.ofSeconds(60);
    private static LocalCluster cluster;
    private static TaskgridClient api;
    private static Path logs;
    private static final List<Process> agents = new ArrayList<>();

    @BeforeAll
    static void start() {
        logs = Path.of(SharedCluster.property("taskgrid.log.dir")).resolve("rotation-cluster");
        Path wlp = Path.of(SharedCluster.property("taskgrid.wlp.dir"));
        ServerLayout.copyOfBuildServer(wlp, "taskgrid-rotation", Map.of(), Map.of());
        cluster = LocalCluster.start(ClusterConfig.builder(wlp, Path.of(SharedCluster.property("taskgrid.agent.jar")))
                .serverName("taskgrid-rotation").ports(19397, 19358).workers(0).logDir(logs)
                .stateDir(logs.resolve("state")).build());
        api = new TaskgridClient(cluster.config().apiBase(), cluster.apiToken());
    }

    @AfterAll
    static void stop() throws InterruptedException {
        for (Process agent : agents) {
            agent.destroy();
            if (!agent.waitFor(20, TimeUnit.SECONDS)) {
                agent.destroyForcibly();
            }
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    /** A task that succeeds only if it sees exactly {@code secret} in $SECRET, waiting for label rot={@code pool}. */
    private static String submitChecking(String secret, String pool) {
        return api.submit("{\"cmd\": \"test \\\"$SECRET\\\" = '" + secret + "' && echo seen\", \"secretEnv\": "
                + "{\"SECRET\": \"" + secret + "\"}, \"requires\": {\"rot\": \"" + pool + "\"}}");
    }

    private static Map<String, Long> sealedByKey() {
        JsonObject secrets = api.get("/secrets").json();
        return secrets.getJsonArray("keys").getValuesAs(JsonObject.class).stream()
                .collect(Collectors.toMap(k -> k.getString("id"), k -> k.getJsonNumber("sealedValues").longValue()));
    }

    private static void startAgent(String pool) throws Exception {
        Path token = logs.resolve("join-token-" + pool);
        Files.writeString(token, cluster.joinToken() + "\n");
        Files.setPosixFilePermissions(token, PosixFilePermissions.fromString("rw-------"));
        agents.add(AgentProcess.agent().id("rot-" + pool).master(cluster.config().grpcTarget())
                .args("--token-file", token.toString(), "--label", "rot=" + pool, "--reconnect-delay", "1s",
                        "--state-dir", logs.resolve("state-" + pool).toString())
                .joinToken(null).log(logs.resolve("agent-" + pool + ".log")).start());
    }

    private static void assertRanWithItsSecret(String id) {
        JsonObject done = api.awaitFinal(id, WAIT);
        assertThat(done.getString("state")).as(done.toString()).isEqualTo("SUCCEEDED");
        assertThat(done.getString("stdout")).isEqualTo("seen\n");
    }

    @Test
    void tasksSealedUnderAnOlderKeyRunWithTheirSecretsAndAResealLetsTheOldKeysGo() throws Exception {
        String oldSecret = "old-" + UUID.randomUUID();
        String beforeRotation = submitChecking(oldSecret, "a");
        String first = api.get("/secrets").json().getString("currentKey");
        assertThat(sealedByKey()).containsEntry(first, 1L);

        TaskgridClient.Reply added = api.post("/secrets/keys", "application/json", "");
        assertThat(added.status()).as(added.body()).isEqualTo(201);
        String second = added.json().getString("currentKey");
        assertThat(second).isNotEqualTo(first);
        String newSecret = "new-" + UUID.randomUUID();
        String afterRotation = submitChecking(newSecret, "a");
        assertThat(sealedByKey()).containsEntry(first, 1L).containsEntry(second, 1L);

        startAgent("a");
        assertRanWithItsSecret(beforeRotation);
        assertRanWithItsSecret(afterRotation);
        assertThat(sealedByKey()).as("ended tasks keep no secret").containsEntry(first, 0L).containsEntry(second, 0L);

        String waiting = submitChecking("kept-" + UUID.randomUUID(), "b");
        String third = api.post("/secrets/keys", "application/json", "").json().getString("currentKey");
        TaskgridClient.Reply resealed = api.post("/secrets/reseal", "application/json", "");
        assertThat(resealed.status()).as(resealed.body()).isEqualTo(200);
        assertThat(resealed.json().getInt("resealed")).isEqualTo(1);
        assertThat(resealed.json().getJsonArray("failedTaskIds")).isEmpty();
        assertThat(sealedByKey()).containsEntry(third, 1L).containsEntry(second, 0L).containsEntry(first, 0L);

        // The operator takes the old keys out of the file; the master reads it again within a second.
        Path keyFile = cluster.config().libertyDir().resolve("usr/servers/taskgrid-rotation/taskgrid-secret.key");
        Files.writeString(keyFile, Files.readString(keyFile).replaceAll("(?m)^(" + first + "|" + second + ")=.*\n", ""));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (sealedByKey().containsKey(first) && System.nanoTime() < deadline) {
            TaskgridClient.sleep(200);
        }
        assertThat(sealedByKey()).containsOnlyKeys(third);

        startAgent("b");
        assertRanWithItsSecret(waiting);
        assertThat(api.get("/secrets").body()).doesNotContain(Files.readString(keyFile).lines()
                .filter(l -> l.startsWith(third + "=")).findFirst().orElseThrow().substring(third.length() + 1));
    }

    @Test
    void onlyAnOperatorSeesOrChangesTheKeys() {
        String viewer = api.post("/tokens", "application/json", "{\"name\": \"rot-viewer\", \"role\": \"viewer\"}")
                .json().getString("secret");
        TaskgridClient asViewer = api.withToken(viewer);
        assertThat(asViewer.get("/secrets").status()).isEqualTo(403);
        assertThat(asViewer.post("/secrets/keys", "application/json", "").status()).isEqualTo(403);
        assertThat(asViewer.post("/secrets/reseal", "application/json", "").status()).isEqualTo(403);
    }
}
