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
 * tokens and key files, agents given both addresses. One is active, the other stands by; the active one is killed
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

    @Test
    @Order(1)
    void theStandbyRefusesChangesThenTakesOverFromAKilledMasterAndNoTaskIsLostOrRunTwice() {
        TaskgridClient onA = onA();
        TaskgridClient onB = onB();
        a.awaitWorkers(2, Duration.ofSeconds(60));

        TaskgridClient.Reply ready = onB.get("/health/ready");
        assertThat(ready.status()).isEqualTo(503);
        assertThat(ready.body()).contains("stands by: master a holds the dispatch lease");
        TaskgridClient.Reply refused = onB.post("/tasks", "application/json", "{\"cmd\":\"echo on b\"}");
        assertThat(refused.status()).isEqualTo(503);
        assertThat(refused.contentType()).startsWith("application/problem+json");
        assertThat(refused.json().getString("detail")).contains("master a is active");
        assertThat(onB.get("/workers").status()).as("workers are in the active master's memory").isEqualTo(503);

        List<String> longOnes = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            longOnes.add(onA.submitCmd("sleep 6; echo long " + i));
        }
        StringBuilder batch = new StringBuilder("[");
        for (int i = 0; i < QUICK; i++) {
            batch.append(i == 0 ? "" : ",").append("{\"cmd\":\"echo quick ").append(i).append("\"}");
        }
        TaskgridClient.Reply accepted = onA.post("/tasks", "application/json", batch.append(']').toString());
        assertThat(accepted.status()).isEqualTo(202);
        List<String> quick = accepted.json().getJsonArray("ids").getValuesAs(jakarta.json.JsonString.class).stream()
                .map(jakarta.json.JsonString::getString).toList();
        for (String id : longOnes) {
            onA.awaitState(id, Set.of("RUNNING"), Duration.ofSeconds(30));
        }
        // Half way through the quick ones.
        Polling.poll(Duration.ofSeconds(120), Duration.ofMillis(50)).until(() -> onA.get("/tasks/counts").json()
                .getJsonObject("counts").getInt("SUCCEEDED") >= QUICK / 2);
        assertThat(onB.get("/tasks/" + longOnes.get(0)).status()).as("the standby reads the database").isEqualTo(200);

        a.killMaster();
        long killed = System.nanoTime();
        awaitReady(onB, Duration.ofSeconds(60));
        double takeoverSeconds = (System.nanoTime() - killed) / 1e9;
        System.out.printf("[several masters] standby ready %.1f s after the active master was killed "
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
        System.out.printf("[several masters] kill: %d accepted, %d ended not SUCCEEDED, %d started twice, %d with a "
                + "second attempt never started before, all final %.1f s after the kill%n", QUICK + longOnes.size(),
                notSucceeded, ranTwice, requeued, (System.nanoTime() - killed) / 1e9);
        assertThat(notSucceeded).isZero();
        assertThat(ranTwice).isZero();
        String after = onB.submitCmd("echo after the takeover");
        assertThat(onB.awaitFinal(after, Duration.ofSeconds(60)).getString("stdout")).isEqualTo("after the takeover\n");
        assertThat(onB.workers()).as("both agents found the new master").hasSize(2);

        a.startMaster();
        TaskgridClient.Reply aReady = onA.get("/health/ready");
        assertThat(aReady.status()).as("the old master is a standby now").isEqualTo(503);
        assertThat(aReady.body()).contains("stands by: master b holds the dispatch lease");
        assertThat(onA.post("/tasks", "application/json", "{\"cmd\":\"echo on a\"}").status()).isEqualTo(503);
    }

    /**
     * After the first test b is active and a stands by. b is cut off from the database (its proxy closes every
     * connection and refuses new ones) with tasks running: it stops handing out, lets its agents go, and a takes
     * over; when b reaches the database again it finds the lease taken and steps down, and nothing it still had to
     * write lands.
     */
    @Test
    @Order(2)
    void aMasterCutOffFromTheDatabaseStopsAndItsSuccessorTakesOverAndItWritesNothingAfter() throws Exception {
        TaskgridClient onA = onA();
        TaskgridClient onB = onB();
        awaitReady(onB, Duration.ofSeconds(30));
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
        awaitReady(onA, Duration.ofSeconds(60));
        System.out.printf("[several masters] a ready %.1f s after b was cut off from the database (lease %d s)%n",
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

    private static void awaitReady(TaskgridClient client, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (client.get("/health/ready").status() == 200) {
                return;
            }
            TaskgridClient.sleep(100);
        }
        throw new AssertionError("not ready within " + timeout.toSeconds() + " s");
    }
}
