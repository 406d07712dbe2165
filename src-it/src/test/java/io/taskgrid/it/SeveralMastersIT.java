package io.taskgrid.it;

import io.taskgrid.it.cluster.ClusterConfig;
import io.taskgrid.it.cluster.LocalCluster;
import io.taskgrid.it.cluster.PostgresServer;
import io.taskgrid.it.cluster.ServerLayout;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Two masters on one PostgreSQL, set up as the README's "Running several masters" says: the same database, the same
 * tokens and key files, agents given both addresses. One is active, the other stands by and takes calls for it; the
 * active one is killed
 * (SIGKILL) half way through 1,000 tasks, with others running, and the standby takes over: every task ends, none runs twice, and the
 * killed master, started again, stands by. Then the new active master is cut off from the database: it stops, the
 * other takes over, and once the cut master reaches the database again it steps down without writing anything.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SeveralMastersIT {

    private static final int LEASE_SECONDS = 3;
    private static final int QUICK = 1000;

    private static PostgresServer postgres;
    /** Each master reaches the database through a proxy of its own, which a test can cut. */
    private static CuttableProxy toDatabaseFromA;
    private static CuttableProxy toDatabaseFromB;
    private static LocalCluster a;
    private static LocalCluster b;

    @BeforeAll
    static void startTwoMasters() throws Exception {
        Path logs = Path.of(SharedCluster.property("taskgrid.log.dir"));
        Path wlp = Path.of(SharedCluster.property("taskgrid.wlp.dir"));
        postgres = PostgresServer.start(logs.resolve("ha-postgres"), 55435);
        toDatabaseFromA = CuttableProxy.to(postgres.port());
        toDatabaseFromB = CuttableProxy.to(postgres.port());
        ServerLayout.copyOfBuildServer(wlp, "taskgrid-ha-a", Map.of("taskgrid.db", "postgresql"), Map.of(
                "TASKGRID_DB_HOST", "127.0.0.1", "TASKGRID_DB_PORT", Integer.toString(toDatabaseFromA.port())));
        ServerLayout.copyOfBuildServer(wlp, "taskgrid-ha-b", Map.of("taskgrid.db", "postgresql"), Map.of(
                "TASKGRID_DB_HOST", "127.0.0.1", "TASKGRID_DB_PORT", Integer.toString(toDatabaseFromB.port())));
        String agentMasters = "127.0.0.1:29451,127.0.0.1:29551";
        a = LocalCluster.start(config(wlp, logs, "a", 29492, 29451, 2, agentMasters, Map.of()));
        // b shares a's tokens and key files, as every master of one database must.
        Path home = wlp.resolve("usr/servers/taskgrid-ha-a");
        b = LocalCluster.start(config(wlp, logs, "b", 29592, 29551, 0, agentMasters,
                Map.of("TASKGRID_HOME", home.toString())));
    }

    private static ClusterConfig config(Path wlp, Path logs, String id, int api, int grpc, int workers,
                                        String agentMasters, Map<String, String> env) {
        ClusterConfig.Builder builder = ClusterConfig.builder(wlp, Path.of(SharedCluster.property("taskgrid.agent.jar")))
                .serverName("taskgrid-ha-" + id).ports(api, grpc).workers(workers).baseWorkerId("ha")
                .slotsPerWorker(2).reconnectDelay(Duration.ofMillis(500)).agentMasters(agentMasters).mayStandBy(true)
                .logDir(logs.resolve("ha-" + id)).stateDir(logs.resolve("ha-state-" + id))
                .masterEnv("TASKGRID_MASTER_ID", id)
                .masterEnv("TASKGRID_MASTER_LEASE_SECONDS", Integer.toString(LEASE_SECONDS))
                .masterEnv("TASKGRID_LOST_AFTER_SECONDS", "20");
        env.forEach(builder::masterEnv);
        return builder.build();
    }

    @AfterAll
    static void stop() {
        for (AutoCloseable closeable : new AutoCloseable[] {b, a, toDatabaseFromA, toDatabaseFromB, postgres}) {
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
     * A client may send any call to either master: b stands by, is ready, and takes submissions, cancels, drains and
     * worker lists for a, which carries them out at once (woken through PostgreSQL's LISTEN/NOTIFY). Idempotency-Keys
     * and the queue's counts are the database's, so they hold across both.
     */
    @Test
    @Order(1)
    void eitherMasterTakesEveryCallAndTheActiveOneCarriesItOut() {
        TaskgridClient onA = onA();
        TaskgridClient onB = onB();
        a.awaitWorkers(2, Duration.ofSeconds(60));

        TaskgridClient.Reply ready = onB.get("/health/ready");
        assertThat(ready.status()).as("a standby serves the API").isEqualTo(200);
        assertThat(ready.body()).contains("UP: standby, stands by: master a holds the dispatch lease");

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
        System.out.println("[several masters] tasks submitted to the standby one at a time ran and ended (ms after "
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
        for (Map.Entry<String, String> task : expected.entrySet()) {
            JsonObject done = onA.awaitFinal(task.getKey(), Duration.ofSeconds(60));
            assertThat(done.getString("stdout")).isEqualTo(task.getValue());
            assertThat(done.getJsonArray("attempts")).as("run once").hasSize(1);
        }

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
        System.out.printf("[several masters] output followed through the standby: lines at %s ms, end at %d ms%n",
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

        // The worker list, and why a task waits, as the active master published them.
        List<JsonObject> workers = onB.workers();
        assertThat(workers).hasSize(2).allSatisfy(w -> assertThat(w.getString("master")).isEqualTo("a"));
        assertThat(onA.workers()).allSatisfy(w -> assertThat(w.getString("master")).isEqualTo("a"));
        String waits = onB.submit("{\"cmd\":\"echo never\",\"requires\":{\"gpu\":\"h100\"}}");
        assertThat(onB.task(waits).getString("waiting", "")).contains("gpu");

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
        System.out.printf("[several masters] a running task cancelled through the standby ended CANCELLED %.0f ms after "
                + "the DELETE was sent%n", (System.nanoTime() - asked) / 1e6);
        assertThat(cancelled.getString("cancelledBy", "")).isNotEmpty();
        TaskgridClient.Reply again = onB.delete("/tasks/" + sleeping);
        assertThat(again.status()).isEqualTo(409);

        // A drain taken by b reaches the agent's stream on a; the agent connected again takes work again.
        String worker = workers.get(0).getString("id");
        TaskgridClient.Reply drained = onB.post("/workers/" + worker + "/drain", null, "");
        assertThat(drained.status()).isEqualTo(200);
        assertThat(drained.json().getBoolean("draining")).isTrue();
        assertThat(onA.workers().stream().filter(w -> w.getString("id").equals(worker)).findFirst().orElseThrow()
                .getBoolean("draining")).as("on the active master itself").isTrue();
        assertThat(onB.post("/workers/nobody/drain", null, "").status()).isEqualTo(404);
        a.stopAgent(worker);
        a.startAgent(worker);
        Polling.poll(Duration.ofSeconds(60), Duration.ofMillis(200)).until(() -> onA.workers().stream()
                .filter(w -> !w.getBoolean("draining")).count() == 2);

        // What stays with the active master: the API tokens in its files.
        TaskgridClient.Reply tokens = onB.post("/tokens", "application/json", "{\"name\":\"x\",\"role\":\"viewer\"}");
        assertThat(tokens.status()).isEqualTo(503);
        assertThat(tokens.json().getString("detail")).contains("master a is active");
    }

    @Test
    @Order(2)
    void theStandbyTakesOverFromAKilledMasterAndNoTaskIsLostOrRunTwice() {
        TaskgridClient onA = onA();
        TaskgridClient onB = onB();
        a.awaitWorkers(2, Duration.ofSeconds(60));

        // Round robin over both masters, as a load balancer would send them: the long ones one by one, the quick ones
        // in batches of 50.
        List<String> longOnes = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            longOnes.add((i % 2 == 0 ? onA : onB).submitCmd("sleep 6; echo long " + i));
        }
        List<String> quick = new ArrayList<>();
        for (int from = 0; from < QUICK; from += 50) {
            StringBuilder batch = new StringBuilder("[");
            for (int i = from; i < from + 50; i++) {
                batch.append(i == from ? "" : ",").append("{\"cmd\":\"echo quick ").append(i).append("\"}");
            }
            TaskgridClient.Reply accepted = (from / 50 % 2 == 0 ? onA : onB).post("/tasks", "application/json",
                    batch.append(']').toString());
            assertThat(accepted.status()).isEqualTo(202);
            accepted.json().getJsonArray("ids").getValuesAs(jakarta.json.JsonString.class)
                    .forEach(id -> quick.add(id.getString()));
        }
        for (String id : longOnes) {
            onA.awaitState(id, Set.of("RUNNING"), Duration.ofSeconds(30));
        }
        // Half way through the quick ones.
        Polling.poll(Duration.ofSeconds(120), Duration.ofMillis(50)).until(() -> onA.get("/tasks/counts").json()
                .getJsonObject("counts").getInt("SUCCEEDED") >= QUICK / 2);
        assertThat(onB.get("/tasks/" + longOnes.get(0)).status()).as("the standby reads the database").isEqualTo(200);

        a.killMaster();
        long killed = System.nanoTime();
        // Taken by b while no master is active: stored, and run once b has taken over.
        Map<String, String> duringTakeover = new HashMap<>();
        for (int i = 0; i < 20; i++) {
            duringTakeover.put(onB.submitCmd("echo during the takeover " + i), "during the takeover " + i + "\n");
        }
        awaitActive(onB, Duration.ofSeconds(60));
        double takeoverSeconds = (System.nanoTime() - killed) / 1e9;
        System.out.printf("[several masters] standby active %.1f s after the active master was killed "
                + "(lease %d s)%n", takeoverSeconds, LEASE_SECONDS);

        for (String id : longOnes) {
            JsonObject task = onB.awaitFinal(id, Duration.ofSeconds(90));
            assertThat(task.getString("state")).isEqualTo("SUCCEEDED");
            assertThat(task.getJsonArray("attempts")).as("reclaimed on the new master, not run again").hasSize(1);
        }
        int ranTwice = 0;
        int notSucceeded = 0;
        int requeued = 0;
        for (int i = 0; i < quick.size(); i++) {
            JsonObject task = onB.awaitFinal(quick.get(i), Duration.ofSeconds(90));
            notSucceeded += task.getString("state").equals("SUCCEEDED") ? 0 : 1;
            assertThat(task.getString("stdout")).isEqualTo("quick " + i + "\n");
            long started = task.getJsonArray("attempts").getValuesAs(JsonObject.class).stream()
                    .filter(attempt -> attempt.containsKey("startedAt") && !attempt.isNull("startedAt")).count();
            ranTwice += started > 1 ? 1 : 0;
            requeued += task.getJsonArray("attempts").size() > 1 ? 1 : 0;
        }
        System.out.printf("[several masters] kill: %d accepted round robin, %d ended not SUCCEEDED, %d started twice, %d with a "
                + "second attempt never started before, all final %.1f s after the kill%n", QUICK + longOnes.size(),
                notSucceeded, ranTwice, requeued, (System.nanoTime() - killed) / 1e9);
        assertThat(notSucceeded).isZero();
        assertThat(ranTwice).isZero();
        for (Map.Entry<String, String> task : duringTakeover.entrySet()) {
            JsonObject done = onB.awaitFinal(task.getKey(), Duration.ofSeconds(60));
            assertThat(done.getString("stdout")).isEqualTo(task.getValue());
            assertThat(done.getJsonArray("attempts")).hasSize(1);
        }
        System.out.printf("[several masters] %d more taken by the standby between the kill and its takeover: each ran "
                + "once after it%n", duringTakeover.size());
        String after = onB.submitCmd("echo after the takeover");
        assertThat(onB.awaitFinal(after, Duration.ofSeconds(60)).getString("stdout")).isEqualTo("after the takeover\n");
        assertThat(onB.workers()).as("both agents found the new master").hasSize(2);

        a.startMaster();
        TaskgridClient.Reply aReady = onA.get("/health/ready");
        assertThat(aReady.body()).as("the old master is a standby now")
                .contains("UP: standby, stands by: master b holds the dispatch lease");
        String onTheOld = onA.submitCmd("echo through the old master");
        assertThat(onB.awaitFinal(onTheOld, Duration.ofSeconds(30)).getString("stdout"))
                .isEqualTo("through the old master\n");
    }

    /**
     * After the first test b is active and a stands by. b is cut off from the database (its proxy closes every
     * connection and refuses new ones) with tasks running: it stops handing out, lets its agents go, and a takes
     * over; when b reaches the database again it finds the lease taken and steps down, and nothing it still had to
     * write lands.
     */
    @Test
    @Order(3)
    void aMasterCutOffFromTheDatabaseStopsAndItsSuccessorTakesOverAndItWritesNothingAfter() throws Exception {
        TaskgridClient onA = onA();
        TaskgridClient onB = onB();
        awaitActive(onB, Duration.ofSeconds(30));
        Polling.poll(Duration.ofSeconds(60), Duration.ofMillis(200)).until(() -> onB.workers().size() == 2);
        List<String> running = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            running.add(onB.submitCmd("sleep 8; echo cut " + i));
        }
        for (String id : running) {
            onB.awaitState(id, Set.of("RUNNING"), Duration.ofSeconds(30));
        }

        toDatabaseFromB.cut();
        long cut = System.nanoTime();
        awaitActive(onA, Duration.ofSeconds(60));
        System.out.printf("[several masters] a active %.1f s after b was cut off from the database (lease %d s)%n",
                (System.nanoTime() - cut) / 1e9, LEASE_SECONDS);
        TaskgridClient.Reply bReady = onB.get("/health/ready");
        assertThat(bReady.status()).isEqualTo(503);
        assertThat(bReady.body()).contains("cannot renew its dispatch lease");
        assertThat(onB.post("/tasks", "application/json", "{\"cmd\":\"echo on b\"}").status())
                .as("b takes no changes while it cannot renew").isEqualTo(503);

        Map<String, String> quick = new HashMap<>();
        for (int i = 0; i < 20; i++) {
            quick.put(onA.submitCmd("echo after the cut " + i), "after the cut " + i + "\n");
        }
        for (int i = 0; i < running.size(); i++) {
            JsonObject task = onA.awaitFinal(running.get(i), Duration.ofSeconds(90));
            assertThat(task.getString("state")).isEqualTo("SUCCEEDED");
            assertThat(task.getString("stdout")).isEqualTo("cut " + i + "\n");
            assertThat(task.getJsonArray("attempts")).as("reclaimed on a, not run again").hasSize(1);
        }
        for (Map.Entry<String, String> entry : quick.entrySet()) {
            assertThat(onA.awaitFinal(entry.getKey(), Duration.ofSeconds(90)).getString("stdout"))
                    .isEqualTo(entry.getValue());
        }

        toDatabaseFromB.restore();
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        TaskgridClient.Reply live = onB.get("/health/live");
        while (live.status() == 200 && System.nanoTime() < deadline) {
            TaskgridClient.sleep(200);
            live = onB.get("/health/live");
        }
        assertThat(live.status()).as("b steps down for good once it sees a holds the lease").isEqualTo(503);
        assertThat(live.body()).contains("deposed").contains("master a holds the dispatch lease");
        assertThat(onB.post("/tasks", "application/json", "{\"cmd\":\"echo on b\"}").status()).isEqualTo(503);
        TaskgridClient.sleep(2000);
        for (int i = 0; i < running.size(); i++) {
            JsonObject task = onA.task(running.get(i));
            assertThat(task.getString("state")).as("nothing of b overwrote a's results").isEqualTo("SUCCEEDED");
            assertThat(task.getString("stdout")).isEqualTo("cut " + i + "\n");
        }
        assertThat(onA.workers()).hasSize(2);
    }

    /** Waits until the master is ready as the active one (a standby is ready too). */
    private static void awaitActive(TaskgridClient client, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            TaskgridClient.Reply ready = client.get("/health/ready");
            if (ready.status() == 200 && ready.body().contains("UP: active")) {
                return;
            }
            TaskgridClient.sleep(100);
        }
        throw new AssertionError("not active within " + timeout.toSeconds() + " s");
    }
}
