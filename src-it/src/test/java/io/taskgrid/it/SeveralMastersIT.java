package io.taskgrid.it;

import io.taskgrid.it.cluster.ClusterConfig;
import io.taskgrid.it.cluster.LocalCluster;
import io.taskgrid.it.cluster.PostgresServer;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Two masters on one PostgreSQL, set up as "Running several masters" in docs/operations.md says: the same database,
 * the same tokens and key files, agents given both addresses (each its own master first). Both dispatch, each to its
 * own agents, and either takes every call a client may send. What happens when a master dies or is cut off from the
 * database is {@code chaos/SeveralMastersChaosIT}'s, with containers.
 */
class SeveralMastersIT {

    private static final int LEASE_SECONDS = 3;

    private static PostgresServer postgres;
    private static LocalCluster a;
    private static LocalCluster b;

    @BeforeAll
    static void startTwoMasters() throws Exception {
        Path logs = Path.of(SharedCluster.property("taskgrid.log.dir"));
        Path wlp = Path.of(SharedCluster.property("taskgrid.wlp.dir"));
        postgres = PostgresServer.start(logs.resolve("ha-postgres"), 55435);
        Path shared = logs.resolve("ha-shared");
        ExtraServer.deleteTree(shared);
        deployAsTheDocumentationSays(wlp, "a", shared);
        deployAsTheDocumentationSays(wlp, "b", shared);
        a = LocalCluster.start(config(wlp, logs, "a", 29492, 29451, 2, "127.0.0.1:29451,127.0.0.1:29551"));
        // b's agents are started here: its own list would count a's agents too.
        b = LocalCluster.start(config(wlp, logs, "b", 29592, 29551, 0, "127.0.0.1:29551,127.0.0.1:29451"));
        b.startAgent("hb-1");
        b.startAgent("hb-2");
        Polling.poll(Duration.ofSeconds(60), Duration.ofMillis(200)).alias("two agents on each master")
                .until(() -> mastersOfWorkers(onA()).equals(Map.of("a", 2L, "b", 2L)));
    }

    /** How many agents each master lists as its own, in {@code on}'s worker list. */
    private static Map<String, Long> mastersOfWorkers(TaskgridClient on) {
        return on.workers().stream().collect(java.util.stream.Collectors.groupingBy(w -> w.getString("master"),
                java.util.TreeMap::new, java.util.stream.Collectors.counting()));
    }

    /**
     * Runs the blocks of docs/operations.md for one master as written: "Deploying master.war on your own Liberty" (a
     * new server), then "Running several masters" (PostgreSQL, the master's name, the shared home, listening beyond
     * loopback), each without its {@code server start} (the test starts the server, with its own ports). Only the
     * values the page says to choose are this test's own.
     */
    private static void deployAsTheDocumentationSays(Path wlp, String master, Path shared) throws Exception {
        String server = "taskgrid-ha-" + master;
        ExtraServer.deleteTree(wlp.resolve("usr/servers/" + server));
        Path projectRoot = Path.of(SharedCluster.property("taskgrid.project.dir"));
        List<String> deploy = OperatorDeploymentIT.deployBlock();
        List<String> severalMasters = DocBlocks.lines(DocBlocks.page(OperatorDeploymentIT.OPERATIONS_PAGE),
                "## Running several masters");
        Map<String, String> chosen = Map.of("WLP=/opt/wlp", "WLP='" + wlp + "'", "SERVER=taskgrid", "SERVER=" + server,
                "MASTER=a", "MASTER=" + master, "SHARED=/srv/taskgrid", "SHARED='" + shared + "'",
                "DB_HOST=db.example.com", "DB_HOST=127.0.0.1", "DB_PORT=5432", "DB_PORT=" + postgres.port());
        assertThat(severalMasters).containsAll(chosen.keySet()).contains("$WLP/bin/server start $SERVER");
        List<String> script = new ArrayList<>(List.of("set -euo pipefail"));
        for (String line : concat(deploy, severalMasters)) {
            if (!line.equals("$WLP/bin/server start $SERVER")) {
                script.add(chosen.getOrDefault(line, line));
            }
        }
        ProcessBuilder builder = new ProcessBuilder("bash", "-c", String.join("\n", script))
                .directory(projectRoot.toFile()).redirectErrorStream(true);
        builder.environment().put("DB_PASSWORD", "trusted-by-the-test-database");
        Process deployment = builder.start();
        String output = new String(deployment.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(deployment.waitFor(300, TimeUnit.SECONDS)).isTrue();
        assertThat(deployment.exitValue()).as(String.join("\n", script) + "\n" + output).isZero();
        Path serverEnv = wlp.resolve("usr/servers/" + server + "/server.env");
        assertThat(Files.readString(serverEnv)).contains("TASKGRID_MASTER_ID=" + master + "\n",
                "TASKGRID_HOME=" + shared + "\n", "TASKGRID_DB_PORT=" + postgres.port() + "\n");
        // Listening beyond loopback without TLS: the documented opt-in for a network one trusts (this machine).
        Files.writeString(serverEnv, "TASKGRID_TLS_INSECURE_ALLOWED=true\n", StandardOpenOption.APPEND);
    }

    private static List<String> concat(List<String> first, List<String> second) {
        List<String> all = new ArrayList<>(first);
        all.addAll(second);
        return all;
    }

    private static ClusterConfig config(Path wlp, Path logs, String id, int api, int grpc, int workers,
                                        String agentMasters) {
        return ClusterConfig.builder(wlp, Path.of(SharedCluster.property("taskgrid.agent.jar")))
                .serverName("taskgrid-ha-" + id).ports(api, grpc).workers(workers).baseWorkerId("h" + id + "-")
                .slotsPerWorker(2).reconnectDelay(Duration.ofMillis(500)).agentMasters(agentMasters).mayStandBy(true)
                .logDir(logs.resolve("ha-" + id)).stateDir(logs.resolve("ha-state-" + id))
                .masterEnv("TASKGRID_MASTER_LEASE_SECONDS", Integer.toString(LEASE_SECONDS))
                .masterEnv("TASKGRID_LOST_AFTER_SECONDS", "20")
                .build();
    }

    @AfterAll
    static void stop() {
        for (AutoCloseable closeable : new AutoCloseable[] {b, a, postgres}) {
            try {
                if (closeable != null) {
                    closeable.close();
                }
            } catch (Exception e) {
                System.err.println("stopping: " + e);
            }
        }
    }

    private static TaskgridClient onA() {
        return new TaskgridClient(a.config().apiBase(), a.apiToken());
    }

    private static TaskgridClient onB() {
        return new TaskgridClient(b.config().apiBase(), a.apiToken());
    }

    /**
     * A client may send any call to either master, and both dispatch, each to its own agents: a submission is stored
     * for whichever master's agents have room (claimed through PostgreSQL's LISTEN/NOTIFY), a cancel or drain reaches
     * the master that holds the task or the agent. Idempotency-Keys and the queue's counts are the database's, so they
     * hold across both.
     */
    @Test
    void eitherMasterTakesEveryCallAndBothDispatchToTheirOwnAgents() {
        TaskgridClient onA = onA();
        TaskgridClient onB = onB();

        for (TaskgridClient on : List.of(onA, onB)) {
            TaskgridClient.Reply ready = on.get("/health/ready");
            assertThat(ready.status()).isEqualTo(200);
            assertThat(ready.body()).contains("UP: active");
        }

        // Submissions on both, one task at a time and in batches: each runs once.
        List<Long> millis = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            long sent = System.nanoTime();
            String single = onB.submitCmd("echo taken by b " + i);
            JsonObject ran = onB.awaitFinal(single, Duration.ofSeconds(30));
            millis.add((System.nanoTime() - sent) / 1_000_000);
            assertThat(ran.getString("stdout")).isEqualTo("taken by b " + i + "\n");
            assertThat(ran.getJsonArray("attempts")).hasSize(1);
        }
        System.out.println("[several masters] tasks submitted to b one at a time ran and ended (ms after "
                + "sent, polled every 50 ms): " + millis);
        Map<String, String> expected = new HashMap<>();
        for (int round = 0; round < 4; round++) {
            TaskgridClient on = round % 2 == 0 ? onB : onA;
            StringBuilder batch = new StringBuilder("[");
            for (int i = 0; i < 25; i++) {
                batch.append(i == 0 ? "" : ",").append("{\"cmd\":\"echo r").append(round).append('-').append(i)
                        .append("\"}");
            }
            TaskgridClient.Reply accepted = on.post("/tasks", "application/json", batch.append(']').toString());
            assertThat(accepted.status()).isEqualTo(202);
            List<String> ids = accepted.json().getJsonArray("ids").getValuesAs(jakarta.json.JsonString.class).stream()
                    .map(jakarta.json.JsonString::getString).toList();
            for (int i = 0; i < ids.size(); i++) {
                expected.put(ids.get(i), "r" + round + "-" + i + "\n");
            }
        }
        Set<String> ranOn = new java.util.TreeSet<>();
        for (Map.Entry<String, String> task : expected.entrySet()) {
            JsonObject done = onA.awaitFinal(task.getKey(), Duration.ofSeconds(60));
            assertThat(done.getString("stdout")).isEqualTo(task.getValue());
            assertThat(done.getJsonArray("attempts")).as("run once").hasSize(1);
            ranOn.add(done.getString("workerId").startsWith("ha-") ? "a" : "b");
        }
        assertThat(ranOn).as("the 100 tasks ran on both masters' agents").containsExactly("a", "b");

        // Live output of a task running on a's agent, followed through b.
        String counting = onA.submitCmd("for i in 1 2 3; do echo line$i; sleep 1; done");
        List<long[]> arrivals = new ArrayList<>();
        StringBuilder followed = new StringBuilder();
        long followFrom = System.nanoTime();
        try {
            java.net.http.HttpResponse<java.util.stream.Stream<String>> stream = java.net.http.HttpClient.newHttpClient()
                    .send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(onB.base() + "/tasks/" + counting
                                    + "/output?follow=true")).header("Authorization", "Bearer " + a.apiToken())
                            .timeout(Duration.ofSeconds(30)).build(), java.net.http.HttpResponse.BodyHandlers.ofLines());
            assertThat(stream.statusCode()).isEqualTo(200);
            try (java.util.stream.Stream<String> lines = stream.body()) {
                for (String line : (Iterable<String>) lines::iterator) {
                    if (line.startsWith("data:") && line.contains("line")) {
                        followed.append(line.substring(line.indexOf("line"), line.indexOf("line") + 5));
                        arrivals.add(new long[]{System.nanoTime() - followFrom});
                    }
                    if (line.startsWith("event: end")) {
                        break;
                    }
                }
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        long endedAt = System.nanoTime() - followFrom;
        assertThat(followed.toString()).isEqualTo("line1line2line3");
        assertThat(endedAt - arrivals.get(0)[0]).as("the first line came while the task still ran")
                .isGreaterThan(Duration.ofMillis(1500).toNanos());
        System.out.printf("[several masters] output followed through b: lines at %s ms, end at %d ms%n",
                arrivals.stream().map(t -> Long.toString(t[0] / 1_000_000)).toList(), endedAt / 1_000_000);

        // One Idempotency-Key, whichever master the repeat reaches.
        java.net.http.HttpRequest keyed = java.net.http.HttpRequest.newBuilder(java.net.URI.create(onB.base() + "/tasks"))
                .header("Content-Type", "application/json").header("Idempotency-Key", "several-masters-1")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"cmd\":\"echo keyed\"}")).build();
        TaskgridClient.Reply first = onB.send(keyed);
        assertThat(first.status()).isEqualTo(202);
        TaskgridClient.Reply repeat = onA.send(java.net.http.HttpRequest.newBuilder(keyed,
                (name, value) -> true).uri(java.net.URI.create(onA.base() + "/tasks")).build());
        assertThat(repeat.status()).as("a repeat on the other master creates nothing").isEqualTo(200);
        assertThat(repeat.json().getString("id")).isEqualTo(first.json().getString("id"));

        // Every master's workers on either, each with the master it is connected to; why a task waits, from them all.
        List<JsonObject> workers = onB.workers();
        assertThat(mastersOfWorkers(onB)).isEqualTo(Map.of("a", 2L, "b", 2L));
        assertThat(mastersOfWorkers(onA)).isEqualTo(Map.of("a", 2L, "b", 2L));
        String waits = onB.submit("{\"cmd\":\"echo never\",\"requires\":{\"gpu\":\"h100\"}}");
        assertThat(onB.task(waits).getString("waiting", "")).contains("gpu");
        assertThat(onB.get("/tasks/counts").json().getInt("queued")).as("the queue's depth, read from the database")
                .isPositive();

        // A cancel taken by b: a queued task at once, a running one stopped by its agent on a.
        TaskgridClient.Reply cancelQueued = onB.delete("/tasks/" + waits);
        assertThat(cancelQueued.status()).isEqualTo(200);
        assertThat(cancelQueued.json().getString("state")).isEqualTo("CANCELLED");
        // Submitted through b and cancelled through a at once, before a may have taken it: cancelled all the same.
        for (int i = 0; i < 5; i++) {
            String fresh = onB.submit("{\"cmd\":\"echo never\",\"requires\":{\"gpu\":\"h100\"}}");
            TaskgridClient.Reply cancelled = onA.delete("/tasks/" + fresh);
            assertThat(cancelled.status()).as("cancelled while queued, taken or not").isEqualTo(200);
            assertThat(cancelled.json().getString("state")).isEqualTo("CANCELLED");
        }
        String sleeping = onB.submitCmd("sleep 60");
        onB.awaitState(sleeping, Set.of("RUNNING"), Duration.ofSeconds(30));
        long asked = System.nanoTime();
        TaskgridClient.Reply cancelRunning = onB.delete("/tasks/" + sleeping);
        assertThat(cancelRunning.status()).as("in flight: its agent stops it").isEqualTo(202);
        JsonObject cancelled = onB.awaitState(sleeping, Set.of("CANCELLED"), Duration.ofSeconds(10));
        System.out.printf("[several masters] a running task cancelled through b ended CANCELLED %.0f ms after "
                + "the DELETE was sent (it ran on %s)%n", (System.nanoTime() - asked) / 1e6,
                cancelled.getString("workerId", "?"));
        assertThat(cancelled.getString("cancelledBy", "")).isNotEmpty();
        TaskgridClient.Reply again = onB.delete("/tasks/" + sleeping);
        assertThat(again.status()).isEqualTo(409);

        // A cancel of a task running under a, sent to b, and the other way round: it reaches the agent.
        for (int i = 0; i < 2; i++) {
            String id = onA.submitCmd("sleep 60");
            JsonObject running = onA.awaitState(id, Set.of("RUNNING"), Duration.ofSeconds(30));
            TaskgridClient other = running.getString("workerId").startsWith("ha-") ? onB : onA;
            long sent = System.nanoTime();
            assertThat(other.delete("/tasks/" + id).status()).isEqualTo(202);
            onA.awaitState(id, Set.of("CANCELLED"), Duration.ofSeconds(10));
            System.out.printf("[several masters] a task running under %s, cancelled through the other master, ended "
                    + "CANCELLED %.0f ms after the DELETE%n", other == onB ? "a" : "b", (System.nanoTime() - sent) / 1e6);
        }

        // A drain taken by b reaches the agent's stream on a; the agent connected again takes work again.
        String worker = workers.stream().filter(w -> w.getString("master").equals("a")).findFirst().orElseThrow()
                .getString("id");
        TaskgridClient.Reply drained = onB.post("/workers/" + worker + "/drain", null, "");
        assertThat(drained.status()).isEqualTo(200);
        assertThat(drained.json().getBoolean("draining")).isTrue();
        assertThat(onA.workers().stream().filter(w -> w.getString("id").equals(worker)).findFirst().orElseThrow()
                .getBoolean("draining")).as("on the active master itself").isTrue();
        assertThat(onB.post("/workers/nobody/drain", null, "").status()).isEqualTo(404);
        a.stopAgent(worker);
        a.startAgent(worker);
        Polling.poll(Duration.ofSeconds(60), Duration.ofMillis(200)).until(() -> onA.workers().stream()
                .filter(w -> !w.getBoolean("draining")).count() == 4);

        // API tokens live in the database: one made through b works on a at once, one revoked through b stops
        // working on a within a second (a's cache keeps a token it found for up to a second).
        TaskgridClient.Reply made = onB.post("/tokens", "application/json",
                "{\"name\":\"made-on-b\",\"role\":\"submitter\"}");
        assertThat(made.status()).as(made.body()).isEqualTo(201);
        TaskgridClient submitterOnA = onA.withToken(made.json().getString("secret"));
        assertThat(submitterOnA.get("/me").status()).isEqualTo(200);
        String tokenId = made.json().getJsonObject("token").getString("id");
        assertThat(onB.delete("/tokens/" + tokenId).status()).isEqualTo(200);
        Polling.poll(Duration.ofSeconds(5), Duration.ofMillis(100)).alias("the revocation seen on a")
                .until(() -> submitterOnA.get("/me").status() == 401);

        // The secret key file is shared: a key added through b seals on a too, once a has read the file again.
        String before = onA.get("/secrets").json().getString("currentKey");
        TaskgridClient.Reply added = onB.post("/secrets/keys", "application/json", "");
        assertThat(added.status()).as(added.body()).isEqualTo(201);
        String key = added.json().getString("currentKey");
        assertThat(key).isNotEqualTo(before);
        Polling.poll(Duration.ofSeconds(30), Duration.ofMillis(200)).alias("a reads the new key")
                .until(() -> onA.get("/secrets").json().getString("currentKey").equals(key));
        String sealed = onB.submit("{\"cmd\":\"test \\\"$SECRET\\\" = s3 && echo seen\",\"secretEnv\":{\"SECRET\":\"s3\"}}");
        assertThat(onA.awaitFinal(sealed, Duration.ofSeconds(30)).getString("stdout")).isEqualTo("seen\n");

        // Either master re-seals the stored secrets under the current key.
        assertThat(onB.post("/secrets/reseal", "application/json", "").status()).isEqualTo(200);
        assertThat(onA.post("/secrets/reseal", "application/json", "").status()).isEqualTo(200);
    }
}
