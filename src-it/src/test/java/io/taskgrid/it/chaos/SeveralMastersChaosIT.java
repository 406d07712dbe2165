package io.taskgrid.it.chaos;

import io.taskgrid.it.TaskgridClient;
import jakarta.json.Json;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Two masters on one PostgreSQL, each in a container, both dispatching, with three agents given both addresses (two
 * connect to a first, one to b): the faults of docs/operations.md's "what happens when something dies" done for real.
 * Master a (which also runs the housekeeping, having started first) is SIGKILLed half way through 1,000 submissions
 * sent round robin to both; later master b, then holding every agent, is cut off from the database by the network,
 * longer than its lease, with tasks running, and reconnected. Every scenario counts from outside what ran (one marker line per
 * finished run) and prints one CHAOS line of figures.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SeveralMastersChaosIT {

    private static final int LEASE_SECONDS = 3;
    private static final Duration FINAL_WAIT = Duration.ofMinutes(3);
    private static final Duration LOAD_WAIT = Duration.ofMinutes(5);
    private static final List<String> MASTERS = List.of("a", "b");

    private static ChaosCluster cluster;

    @BeforeAll
    static void twoMastersOnPostgres() {
        ChaosCluster.assumeImages(ChaosCluster.IMAGE, ChaosCluster.POSTGRES_IMAGE);
        cluster = ChaosCluster.onPostgres("several-masters", Map.of(
                "TASKGRID_MASTER_LEASE_SECONDS", Integer.toString(LEASE_SECONDS),
                "TASKGRID_LOST_AFTER_SECONDS", "20",
                "TASKGRID_GRPC_KEEPALIVE_SECONDS", "2",
                "TASKGRID_GRPC_KEEPALIVE_TIMEOUT_SECONDS", "2",
                // One test client submits everything: the queue's cap alone, no share per caller.
                "TASKGRID_QUEUE_PER_CALLER_SHARE", "1"), MASTERS);
        cluster.startMaster("a");
        cluster.startMaster("b");
        cluster.startAgent("a1", "a");
        cluster.startAgent("a2", "a");
        cluster.startAgent("b1", "b");
        awaitActive("a", Duration.ofSeconds(30));
        awaitActive("b", Duration.ofSeconds(30));
        poll(Duration.ofMinutes(1), Duration.ofMillis(200)).alias("2 agents on a, 1 on b")
                .until(() -> workersOn("a") == 2 && workersOn("b") == 1);
    }

    @AfterAll
    static void stop() {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    @Order(1)
    void aMasterKilledHalfWayThroughRoundRobinSubmissionsLosesNothingAndRunsNothingTwice() throws Exception {
        int total = 1000;
        // Running when a dies, some on a's agents: those must be reclaimed on b and finish in their first attempt.
        TaskgridClient onA = cluster.api("a");
        Map<String, String> longOnes = new LinkedHashMap<>();
        for (int i = 0; i < 3; i++) {
            longOnes.put("long-" + i, onA.submitCmd(ChaosCluster.markedCommand("long-" + i, 12)));
        }
        // Some, not all: a master claims up to its agents' slots and prefetch, so a task a holds may wait for a's busy
        // agents while b's agent is idle (two runs in CI saw one still QUEUED 12 s on). What the kill needs is a task
        // running on one of a's agents, and none ended yet.
        poll(Duration.ofSeconds(30), Duration.ofMillis(50)).alias("a long task running on one of a's agents")
                .until(() -> {
                    boolean onAsAgent = false;
                    for (String id : longOnes.values()) {
                        JsonObject task = onA.task(id);
                        assertThat(TaskgridClient.FINAL_STATES).as("no long task ended before the kill: " + task)
                                .doesNotContain(task.getString("state"));
                        onAsAgent |= task.getString("state").equals("RUNNING")
                                && String.valueOf(TaskgridClient.stringOrNull(task, "workerId")).startsWith("a");
                    }
                    return onAsAgent;
                });
        Map<String, String> accepted = new ConcurrentHashMap<>();
        AtomicInteger submitted = new AtomicInteger();
        AtomicInteger failedOver = new AtomicInteger();
        ExecutorService submitter = Executors.newSingleThreadExecutor();
        Future<?> load = submitter.submit(() -> {
            for (int i = 0; i < total; i++) {
                String name = "rr-" + i;
                String body = Json.createObjectBuilder().add("cmd", ChaosCluster.markedCommand(name, 0.1)).build()
                        .toString();
                // Round robin, as a load balancer sends them; a master that does not answer is skipped, as a load
                // balancer's health check would, with the same Idempotency-Key, so a request stored whose answer
                // was lost is not stored twice.
                String first = MASTERS.get(i % 2);
                String other = MASTERS.get((i + 1) % 2);
                String id = poll(LOAD_WAIT, Duration.ofMillis(100)).alias("submission of " + name)
                        .until(() -> ChaosCluster.submitOnce(() -> cluster.api(first), name, body).or(() -> {
                            failedOver.incrementAndGet();
                            return ChaosCluster.submitOnce(() -> cluster.api(other), name, body);
                        }), Optional::isPresent).orElseThrow();
                accepted.put(name, id);
                submitted.incrementAndGet();
            }
        });
        poll(LOAD_WAIT, Duration.ofMillis(20)).alias("half the submissions before the kill")
                .until(() -> submitted.get() >= total / 2);
        Instant fault = Instant.now();
        cluster.killMaster("a");
        poll(Duration.ofSeconds(60), Duration.ofMillis(100)).alias("a's agents on b").until(() -> workersOn("b") == 3);
        Duration takeover = Duration.between(fault, Instant.now());
        load.get(LOAD_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        submitter.shutdown();

        TaskgridClient api = cluster.api("b");
        Tally tally = Tally.of(cluster, api, accepted, FINAL_WAIT);
        Instant last = Tally.lastFinish(api, accepted.values());
        System.out.printf("CHAOS two dispatching masters, one SIGKILLed at %d of %d round-robin submissions: accepted=%d "
                        + "ran=%d duplicates=%d lost=%d not-succeeded=%d agents-moved=%d ms recovery=%d ms (lease %d s; %d "
                        + "submissions went to the other master while one did not answer)%n", total / 2, total,
                tally.accepted(), tally.ran(), tally.duplicates(), tally.lost(), tally.notSucceeded(), takeover.toMillis(),
                Duration.between(fault, last).toMillis(), LEASE_SECONDS, failedOver.get());
        assertThat(accepted).hasSize(total);
        assertThat(tally.ran()).isEqualTo(total);
        assertThat(tally.duplicates()).isZero();
        assertThat(tally.notSucceeded()).isZero();
        assertThat(workersOn("b")).as("every agent found the master that lives").isEqualTo(3);
        for (Map.Entry<String, String> task : longOnes.entrySet()) {
            JsonObject done = api.awaitFinal(task.getValue(), FINAL_WAIT);
            assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
            assertThat(done.getJsonArray("attempts")).as("reclaimed on b if it ran under a, not run again").hasSize(1);
            assertThat(cluster.runs(task.getKey())).isEqualTo(1);
        }

        // The killed master, started again, dispatches again and takes a submission (run by b's agents: a has none).
        cluster.startMaster("a");
        assertThat(cluster.api("a").get("/health/ready").body()).contains("UP: active");
        String late = cluster.api("a").submitCmd(ChaosCluster.markedCommand("after-restart", 0));
        assertThat(api.awaitFinal(late, FINAL_WAIT).getString("state")).isEqualTo("SUCCEEDED");
        assertThat(cluster.runs("after-restart")).isEqualTo(1);
    }

    /**
     * b holds every agent. b's network to the database is cut (packets dropped, nothing closed) for longer than the
     * lease, with tasks running on its agents: b must stop handing out and let its agents go, they find a, which takes
     * b's lease from it once it ran out and their attempts with it, and they finish what they ran there, once; when
     * b's network comes back it steps down and writes nothing over a's results.
     */
    @Test
    @Order(2)
    void aMasterCutOffFromTheDatabaseLongerThanItsLeaseNeitherDispatchesNorOverwrites() {
        awaitActive("b", Duration.ofSeconds(30));
        poll(Duration.ofMinutes(1), Duration.ofMillis(200)).alias("every agent on b").until(() -> workersOn("b") == 3);
        TaskgridClient onB = cluster.api("b");
        Map<String, String> running = new LinkedHashMap<>();
        for (int i = 0; i < 3; i++) {
            running.put("cut-" + i, onB.submitCmd(ChaosCluster.markedCommand("cut-" + i, 8)));
        }
        onB.awaitAllRunning(running.values(), Duration.ofSeconds(30));

        cluster.cutFromDatabase("b");
        Instant cut = Instant.now();
        poll(Duration.ofSeconds(60), Duration.ofMillis(100)).alias("b's agents on a").until(() -> workersOn("a") == 3);
        Duration takeover = Duration.between(cut, Instant.now());
        TaskgridClient onA = cluster.api("a");
        TaskgridClient.Reply bReady = onB.get("/health/ready");
        assertThat(bReady.status()).as("b says it cannot hand out: " + bReady.body()).isEqualTo(503);
        assertThat(bReady.body()).contains("cannot renew its dispatch lease");
        assertThat(onB.post("/tasks", "application/json", "{\"cmd\":\"echo on b\"}").status())
                .as("b takes no change while it cannot renew").isEqualTo(503);

        Map<String, String> after = new LinkedHashMap<>();
        for (int i = 0; i < 20; i++) {
            after.put("after-cut-" + i, onA.submitCmd(ChaosCluster.markedCommand("after-cut-" + i, 0)));
        }
        List<String> notOnce = new ArrayList<>();
        for (Map.Entry<String, String> task : running.entrySet()) {
            JsonObject done = onA.awaitFinal(task.getValue(), FINAL_WAIT);
            assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
            assertThat(done.getJsonArray("attempts")).as("reclaimed on a, not run again").hasSize(1);
        }
        Instant last = Tally.lastFinish(onA, running.values());
        for (Map.Entry<String, String> task : after.entrySet()) {
            assertThat(onA.awaitFinal(task.getValue(), FINAL_WAIT).getString("state")).isEqualTo("SUCCEEDED");
        }
        for (String name : concat(running.keySet(), after.keySet())) {
            if (cluster.runs(name) != 1) {
                notOnce.add(name + " ran " + cluster.runs(name) + " times");
            }
        }
        Duration cutFor = Duration.between(cut, Instant.now());
        System.out.printf("CHAOS two dispatching masters, one cut off from PostgreSQL for %d ms (lease %d s) with 3 tasks "
                        + "running: accepted=%d ran=%d not-once=%d agents-moved=%d ms running ones final %d ms after the "
                        + "cut%n", cutFor.toMillis(), LEASE_SECONDS, running.size() + after.size(),
                running.size() + after.size() - notOnce.size(), notOnce.size(), takeover.toMillis(),
                Duration.between(cut, last).toMillis());
        assertThat(notOnce).isEmpty();

        cluster.reconnectToDatabase("b");
        TaskgridClient.Reply live = poll(Duration.ofSeconds(60), Duration.ofMillis(200))
                .alias("b steps down once it reaches the database again")
                .until(() -> onB.get("/health/live"), reply -> reply.status() == 503);
        assertThat(live.body()).contains("deposed").contains("taken from it");
        assertThat(onB.post("/tasks", "application/json", "{\"cmd\":\"echo on b\"}").status()).isEqualTo(503);
        TaskgridClient.sleep(2000);
        for (String id : running.values()) {
            assertThat(onA.task(id).getString("state")).as("nothing of b overwrote a's results").isEqualTo("SUCCEEDED");
        }
        assertThat(workersOn("a")).isEqualTo(3);
    }

    private static List<String> concat(Iterable<String> one, Iterable<String> two) {
        List<String> all = new ArrayList<>();
        one.forEach(all::add);
        two.forEach(all::add);
        return all;
    }

    /** The agents connected to {@code master}, as {@code master} lists them (-1 when it does not answer). */
    private static int workersOn(String master) {
        try {
            return (int) cluster.api(master).workers().stream().filter(w -> w.getString("master").equals(master))
                    .count();
        } catch (RuntimeException e) {
            return -1;
        }
    }

    /** Waits until the named master says it is the active one (a standby is ready too). */
    private static void awaitActive(String master, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = "no answer";
        while (System.nanoTime() < deadline) {
            try {
                TaskgridClient.Reply ready = cluster.api(master).get("/health/ready");
                if (ready.status() == 200 && ready.body().contains("UP: active")) {
                    return;
                }
                last = ready.status() + " " + ready.body();
            } catch (RuntimeException e) {
                last = e.toString();
            }
            TaskgridClient.sleep(100);
        }
        throw new AssertionError("master " + master + " not active within " + timeout.toSeconds() + " s; last: " + last);
    }
}
