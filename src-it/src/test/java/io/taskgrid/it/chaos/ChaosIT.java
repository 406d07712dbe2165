package io.taskgrid.it.chaos;

import io.taskgrid.it.TaskgridClient;
import jakarta.json.Json;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Faults done for real to containers: SIGKILL, freeze, network cut, a master killed under load, a flood of
 * submissions. Every scenario counts from the outside what ran (one marker line per finished run) and asks the API
 * how each task ended; it prints one CHAOS line of figures.
 */
class ChaosIT {

    private static final Duration FINAL_WAIT = Duration.ofMinutes(3);
    /** How long the submissions around a master kill may take, all of them and each one. */
    private static final Duration LOAD_WAIT = Duration.ofMinutes(5);

    @BeforeAll
    static void needsDocker() {
        ChaosCluster.assumeImages(ChaosCluster.IMAGE);
    }

    private static Map<String, String> masterEnv(int lostAfterSeconds, int queueMax) {
        return Map.of("TASKGRID_LOST_AFTER_SECONDS", Integer.toString(lostAfterSeconds),
                "TASKGRID_GRPC_KEEPALIVE_SECONDS", "2",
                "TASKGRID_GRPC_KEEPALIVE_TIMEOUT_SECONDS", "2",
                "TASKGRID_QUEUE_MAX", Integer.toString(queueMax),
                // One test client submits everything: the queue's cap alone, no share per caller.
                "TASKGRID_QUEUE_PER_CALLER_SHARE", "1");
    }

    private static ChaosCluster cluster(String name, int lostAfter, int queueMax, int agents) {
        ChaosCluster cluster = new ChaosCluster(name, masterEnv(lostAfter, queueMax));
        cluster.startMaster();
        for (int i = 1; i <= agents; i++) {
            cluster.startAgent("a" + i);
        }
        cluster.awaitWorkers(agents, Duration.ofMinutes(1));
        return cluster;
    }

    /** Submits tasks named prefix0..n-1 and returns their ids by name. */
    private static Map<String, String> submitMarked(TaskgridClient api, String prefix, int n, double seconds) {
        Map<String, String> ids = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            ids.put(prefix + i, api.submitCmd(ChaosCluster.markedCommand(prefix + i, seconds)));
        }
        return ids;
    }

    private static String awaitRunningOn(TaskgridClient api, Map<String, String> ids, String worker) {
        return poll(Duration.ofSeconds(60), Duration.ofMillis(100)).alias("a task running on " + worker)
                .until(() -> runningOn(api, ids, worker), Optional::isPresent).orElseThrow();
    }

    private static Optional<String> runningOn(TaskgridClient api, Map<String, String> ids, String worker) {
        for (String id : ids.values()) {
            JsonObject task = api.task(id);
            if (task.getString("state").equals("RUNNING") && worker.equals(TaskgridClient.stringOrNull(task, "workerId"))) {
                return Optional.of(id);
            }
        }
        return Optional.empty();
    }

    @Test
    void anAgentKilledMidTaskHasItsTasksRunAgainElsewhereOnce() {
        try (ChaosCluster cluster = cluster("agent-kill", 5, 10_000, 3)) {
            TaskgridClient api = cluster.api();
            Map<String, String> ids = submitMarked(api, "kill-", 12, 2);
            awaitRunningOn(api, ids, "a1");
            Instant fault = Instant.now();
            cluster.killAgent("a1");

            Tally tally = Tally.of(cluster, api, ids, FINAL_WAIT);
            List<String> moved = ids.values().stream().filter(id -> api.task(id).getJsonArray("attempts")
                    .getValuesAs(JsonObject.class).stream().anyMatch(a -> "LOST".equals(a.getString("outcome")))).toList();
            tally.print("agent SIGKILL", Duration.between(fault, Tally.lastFinish(api, moved)));
            assertThat(moved).isNotEmpty();
            assertThat(tally.ran()).isEqualTo(ids.size());
            assertThat(tally.duplicates()).isZero();
            assertThat(tally.notSucceeded()).isZero();
            for (String id : moved) {
                List<JsonObject> attempts = api.task(id).getJsonArray("attempts").getValuesAs(JsonObject.class);
                JsonObject lost = attempts.stream().filter(a -> "LOST".equals(a.getString("outcome"))).findFirst().orElseThrow();
                assertThat(lost.getString("workerId")).isEqualTo("a1");
                assertThat(attempts.get(attempts.size() - 1).getString("outcome")).isEqualTo("SUCCEEDED");
                assertThat(attempts.get(attempts.size() - 1).getString("workerId")).isNotEqualTo("a1");
            }
        }
    }

    /**
     * An agent holds prefetched tasks (assigned to it, waiting for a slot) when it is SIGKILLed: they were never
     * started, so they run elsewhere, once, and never on the killed agent.
     */
    @Test
    void anAgentKilledWhileHoldingPrefetchedTasksHasThemRunElsewhereOnce() {
        try (ChaosCluster cluster = cluster("agent-kill-prefetch", 5, 10_000, 3)) {
            TaskgridClient api = cluster.api();
            Map<String, String> ids = submitMarked(api, "held-", 24, 3);
            // A task assigned to a1 and still not started a second later waits in a1's prefetch.
            String held = poll(Duration.ofSeconds(60), Duration.ofMillis(100)).alias("a task prefetched by a1")
                    .until(() -> ids.values().stream().filter(id -> {
                        JsonObject task = api.task(id);
                        List<JsonObject> attempts = task.getJsonArray("attempts").getValuesAs(JsonObject.class);
                        return task.getString("state").equals("ASSIGNED") && !attempts.isEmpty()
                                && "a1".equals(TaskgridClient.stringOrNull(task, "workerId"))
                                && Instant.parse(attempts.get(attempts.size() - 1).getString("assignedAt"))
                                .isBefore(Instant.now().minusSeconds(1));
                    }).findFirst(), Optional::isPresent).orElseThrow();
            Instant fault = Instant.now();
            cluster.killAgent("a1");

            Tally tally = Tally.of(cluster, api, ids, FINAL_WAIT);
            tally.print("agent SIGKILL holding prefetched tasks", Duration.between(fault, Tally.lastFinish(api, List.of(held))));
            assertThat(tally.ran()).isEqualTo(ids.size());
            assertThat(tally.duplicates()).isZero();
            assertThat(tally.notSucceeded()).isZero();
            String name = ids.entrySet().stream().filter(e -> e.getValue().equals(held)).findFirst().orElseThrow().getKey();
            assertThat(cluster.ranOn(name)).as("the prefetched task ran once, not on the killed agent")
                    .hasSize(1).doesNotContain("a1");
            List<JsonObject> attempts = api.task(held).getJsonArray("attempts").getValuesAs(JsonObject.class);
            assertThat(attempts.get(0).getString("workerId")).isEqualTo("a1");
            assertThat(attempts.get(0).getString("outcome")).isEqualTo("LOST");
            assertThat(attempts.get(attempts.size() - 1).getString("outcome")).isEqualTo("SUCCEEDED");
        }
    }

    @Test
    void anAgentFrozenPastLostAfterHasItsTasksRerunAndItsLateReportsIgnored() {
        try (ChaosCluster cluster = cluster("agent-pause", 5, 10_000, 3)) {
            TaskgridClient api = cluster.api();
            Map<String, String> ids = submitMarked(api, "pause-", 9, 3);
            String frozenTask = awaitRunningOn(api, ids, "a1");
            Instant fault = Instant.now();
            cluster.pauseAgent("a1");

            JsonObject rerun = api.awaitFinal(frozenTask, Duration.ofSeconds(60));
            Duration recovery = Duration.between(fault, Instant.parse(rerun.getString("finishedAt")));
            assertThat(rerun.getString("state")).isEqualTo("SUCCEEDED");
            List<JsonObject> attempts = rerun.getJsonArray("attempts").getValuesAs(JsonObject.class);
            assertThat(attempts).hasSize(2);
            assertThat(attempts.get(0).getString("outcome")).isEqualTo("LOST");
            assertThat(attempts.get(1).getString("workerId")).isNotEqualTo("a1");

            cluster.unpauseAgent("a1");
            cluster.awaitWorkers(3, Duration.ofSeconds(60));
            // Fixed wait: the thawed agent reports its stale attempt, or has it cancelled, and neither may change the
            // task; only time can show that nothing changed.
            TaskgridClient.sleep(5000);
            JsonObject after = api.task(frozenTask);
            assertThat(after.getString("state")).isEqualTo("SUCCEEDED");
            assertThat(after.getJsonArray("attempts")).hasSize(2);
            assertThat(after.getString("workerId")).isEqualTo(attempts.get(1).getString("workerId"));
            assertThat(after.getString("finishedAt")).isEqualTo(rerun.getString("finishedAt"));

            Tally tally = Tally.of(cluster, api, ids, FINAL_WAIT);
            tally.print("agent paused past lostAfter", recovery);
            assertThat(tally.ran()).isEqualTo(ids.size());
            assertThat(tally.notSucceeded()).isZero();
            // Only the frozen agent's own run may have finished after the thaw, before its cancel arrived.
            assertThat(tally.duplicates()).isLessThanOrEqualTo(1);
        }
    }

    @Test
    void anAgentCutOffForLessThanLostAfterRunsNothingTwice() {
        try (ChaosCluster cluster = cluster("partition", 40, 10_000, 3)) {
            TaskgridClient api = cluster.api();
            Map<String, String> ids = submitMarked(api, "cut-", 9, 6);
            awaitRunningOn(api, ids, "a1");
            Instant fault = Instant.now();
            cluster.disconnectAgent("a1");
            // Fixed wait: the cut lasts 6 s by design, shorter than lostAfter (40 s).
            TaskgridClient.sleep(6000);
            cluster.reconnectAgent("a1");
            cluster.awaitWorkers(3, Duration.ofSeconds(40));
            Duration recovery = Duration.between(fault, Instant.now());

            Tally tally = Tally.of(cluster, api, ids, FINAL_WAIT);
            tally.print("agent cut off for 6 s (lostAfter 40 s)", recovery);
            assertThat(tally.ran()).isEqualTo(ids.size());
            assertThat(tally.duplicates()).isZero();
            assertThat(tally.notSucceeded()).isZero();
            for (String id : ids.values()) {
                assertThat(api.task(id).getJsonArray("attempts")).as("re-dispatched " + id).hasSize(1);
            }
        }
    }

    @Test
    void theMasterKilledUnderLoadLosesNoAcceptedTask() throws Exception {
        try (ChaosCluster cluster = cluster("master-kill", 20, 10_000, 3)) {
            int total = 1000;
            Map<String, String> accepted = new ConcurrentHashMap<>();
            AtomicInteger submitted = new AtomicInteger();
            ExecutorService submitter = Executors.newSingleThreadExecutor();
            Future<?> load = submitter.submit(() -> {
                for (int i = 0; i < total; i++) {
                    String name = "load-" + i;
                    String body = Json.createObjectBuilder().add("cmd", ChaosCluster.markedCommand(name, 0)).build().toString();
                    // The same key on every retry: a request that was stored but whose answer was lost is not stored twice.
                    String id = poll(LOAD_WAIT, Duration.ofMillis(200)).alias("submission of " + name)
                            .until(() -> ChaosCluster.submitOnce(cluster::api, name, body), Optional::isPresent).orElseThrow();
                    accepted.put(name, id);
                    submitted.incrementAndGet();
                }
            });
            poll(LOAD_WAIT, Duration.ofMillis(20)).alias("300 submissions before the kill")
                    .until(() -> submitted.get() >= 300);
            Instant fault = Instant.now();
            cluster.killMaster();
            cluster.startMaster();
            load.get(LOAD_WAIT.toMillis(), TimeUnit.MILLISECONDS);
            submitter.shutdown();

            Tally tally = Tally.of(cluster, cluster.api(), accepted, FINAL_WAIT);
            tally.print("master SIGKILL at 300 of 1000 submissions", Duration.between(fault,
                    Tally.lastFinish(cluster.api(), accepted.values())));
            assertThat(tally.accepted()).isEqualTo(total);
            assertThat(tally.ran()).isEqualTo(total);
            assertThat(tally.duplicates()).isZero();
            assertThat(tally.notSucceeded()).isZero();
        }
    }

    @Test
    void eightThousandSubmissionsAgainstBusyAgentsNeverStallIntake() throws Exception {
        int cap = 1000;
        try (ChaosCluster cluster = cluster("flood", 30, cap, 3)) {
            TaskgridClient api = cluster.api();
            List<String> blockers = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                // Busy for the whole flood, however fast this machine submits or runs: the queue must reach its cap.
                blockers.add(api.submitCmd("sleep 600"));
            }
            blockers.forEach(id -> api.awaitState(id, Set.of("RUNNING"), Duration.ofSeconds(30)));

            int total = 8_000;
            Map<String, String> accepted = new ConcurrentHashMap<>();
            AtomicInteger refused = new AtomicInteger();
            AtomicLong slowestMillis = new AtomicLong();
            AtomicInteger next = new AtomicInteger();
            ExecutorService pool = Executors.newFixedThreadPool(4);
            Instant start = Instant.now();
            List<Future<?>> workers = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                workers.add(pool.submit(() -> {
                    TaskgridClient client = cluster.api();
                    for (int i = next.getAndIncrement(); i < total; i = next.getAndIncrement()) {
                        String name = "flood-" + i;
                        long begin = System.nanoTime();
                        TaskgridClient.Reply reply = client.post("/tasks", "application/json",
                                Json.createObjectBuilder().add("cmd", ChaosCluster.markedCommand(name, 0)).build().toString());
                        slowestMillis.accumulateAndGet((System.nanoTime() - begin) / 1_000_000, Math::max);
                        if (reply.status() == 202) {
                            accepted.put(name, reply.json().getString("id"));
                        } else {
                            assertThat(reply.status()).isEqualTo(503);
                            assertThat(reply.header("Retry-After")).isNotBlank();
                            refused.incrementAndGet();
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> worker : workers) {
                worker.get(10, TimeUnit.MINUTES);
            }
            pool.shutdown();
            Duration intake = Duration.between(start, Instant.now());
            System.out.printf("CHAOS flood: %d submissions in %d ms, %d accepted, %d refused with 503, slowest %d ms%n",
                    total, intake.toMillis(), accepted.size(), refused.get(), slowestMillis.get());
            for (String blocker : blockers) {
                assertThat(api.delete("/tasks/" + blocker).status()).as("the busy agents freed").isEqualTo(202);
            }

            Tally tally = Tally.of(cluster, api, accepted, FINAL_WAIT);
            tally.print(total + " submissions, queue cap " + cap, Duration.between(start, Tally.lastFinish(api, accepted.values())));
            assertThat(refused.get()).isPositive();
            assertThat(accepted.size()).isGreaterThanOrEqualTo(cap - 10);
            assertThat(slowestMillis.get()).isLessThan(5000);
            assertThat(tally.ran()).isEqualTo(accepted.size());
            assertThat(tally.duplicates()).isZero();
            assertThat(tally.notSucceeded()).isZero();
        }
    }
}
