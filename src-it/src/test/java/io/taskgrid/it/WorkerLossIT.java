package io.taskgrid.it;

import io.taskgrid.it.bench.ProcStat;
import io.taskgrid.it.cluster.LocalCluster;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;

/** Agents that die, stop, leave and come back, with real processes and signals. */
@ExtendWith(SharedCluster.class)
class WorkerLossIT {

    private final TaskgridClient api = SharedCluster.client();
    private final LocalCluster cluster = SharedCluster.cluster();
    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path markers;

    @Test
    void anAgentKilledMidTaskHasItsCommandStoppedAndItsTaskRunAgainElsewhere() throws Exception {
        Path pids = markers.resolve("pids");
        String id = api.submitCmd("echo $$ >> " + pids + "; sleep 6; echo done");
        String victim = api.awaitState(id, Set.of("RUNNING"), WAIT).getString("workerId");
        long firstShell = Long.parseLong(Files.readAllLines(pids).get(0).trim());

        Instant killedAt = Instant.now();
        cluster.killAgent(victim);
        // The master learns of it when the dead process's socket closes: at once, but not before this line runs.
        cluster.awaitWorkers(cluster.config().workers() - 1, Duration.ofSeconds(10));
        assertThat(api.workers()).extracting(w -> w.getString("id")).doesNotContain(victim);

        // No orphans: the agent's watchdog stops the command's process tree although the agent died by SIGKILL.
        poll(Duration.ofSeconds(10), Duration.ofMillis(100)).alias("the killed agent's command " + firstShell + " ends")
                .until(() -> ProcStat.state(firstShell).map(state -> state == 'Z').orElse(true));
        System.out.printf("the killed agent's command was gone %d ms after the kill%n",
                Duration.between(killedAt, Instant.now()).toMillis());

        // Meanwhile the others carry on.
        for (int i = 0; i < 4; i++) {
            JsonObject done = api.awaitFinal(api.submitCmd("echo after " + i), WAIT);
            assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
            assertThat(done.getString("workerId")).isNotEqualTo(victim);
        }

        // After lostAfter the task goes back to the queue and runs again, on another worker.
        JsonObject done = api.awaitFinal(id, WAIT);
        System.out.printf("task re-run and finished %d ms after its agent was killed%n",
                Duration.between(killedAt, Instant.now()).toMillis());
        assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
        assertThat(done.getString("stdout")).isEqualTo("done\n");
        assertThat(done.getString("workerId")).isNotEqualTo(victim);
        List<JsonObject> attempts = done.getJsonArray("attempts").getValuesAs(JsonObject.class);
        assertThat(attempts).hasSize(2);
        assertThat(attempts.get(0).getString("workerId")).isEqualTo(victim);
        assertThat(attempts.get(0).getString("outcome")).isEqualTo("LOST");
        assertThat(attempts.get(0).getString("reason")).contains(victim).contains("did not come back");
        assertThat(attempts.get(1).getString("outcome")).isEqualTo("SUCCEEDED");
        assertThat(Files.readAllLines(pids)).hasSize(2);
        assertThat(Duration.between(killedAt, Instant.parse(attempts.get(1).getString("assignedAt"))))
                .isGreaterThanOrEqualTo(Duration.ofSeconds(SharedCluster.LOST_AFTER_SECONDS - 1));
    }

    @Test
    void aTaskWhoseWorkersKeepDyingEndsLostAfterItsAttempts() throws Exception {
        String id = api.submit("{\"cmd\": \"sleep 30\", \"maxAttempts\": 1}");
        String victim = api.awaitState(id, Set.of("RUNNING"), WAIT).getString("workerId");
        cluster.killAgent(victim);
        JsonObject lost = api.awaitFinal(id, Duration.ofSeconds(SharedCluster.LOST_AFTER_SECONDS + 20));
        assertThat(lost.getString("state")).isEqualTo("LOST");
        assertThat(lost.getString("reason")).contains(victim).contains("no attempts left (1 of 1)");
        assertThat(lost.getJsonArray("attempts")).hasSize(1);
    }

    @Test
    void aRestartedAgentReconnectsAndTakesWorkAgain() {
        String id = cluster.configuredWorkerIds().get(0);
        cluster.killAgent(id);
        cluster.awaitWorkers(cluster.config().workers() - 1, Duration.ofSeconds(30));
        cluster.startAgent(id);
        cluster.awaitWorkers(cluster.config().workers(), Duration.ofSeconds(30));
        assertThat(api.workers()).extracting(w -> w.getString("id")).contains(id);
        // Occupy the others, so the next task can only go to the agent that came back.
        List<String> blockers = new ArrayList<>();
        for (String other : cluster.configuredWorkerIds()) {
            if (!other.equals(id)) {
                blockers.add(api.submitCmd("sleep 3"));
            }
        }
        blockers.forEach(b -> api.awaitState(b, Set.of("RUNNING"), WAIT));
        JsonObject done = api.awaitFinal(api.submitCmd("echo back"), WAIT);
        assertThat(done.getString("workerId")).isEqualTo(id);
        blockers.forEach(b -> api.awaitFinal(b, WAIT));
    }

    @Test
    void tasksSubmittedWhileNoWorkerIsConnectedWaitAndRunInOrderOnceOneConnects() {
        for (String id : cluster.agentIds()) {
            assertThat(cluster.stopAgent(id)).as("exit code of agent " + id + " after SIGTERM").isZero();
        }
        cluster.awaitWorkers(0, Duration.ofSeconds(30));

        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            // Each prints when it ran, by the agent machine's clock: the master's startedAt of a task too short to
            // report STARTED is when its result arrived, which says nothing about the order the worker ran them in.
            ids.add(api.submitCmd("echo queued " + i + "; date +%s%N"));
        }
        // Fixed wait: with no worker connected nothing may start, and only time can show that it does not.
        TaskgridClient.sleep(1500);
        for (String id : ids) {
            assertThat(api.state(id)).isEqualTo("QUEUED");
        }

        cluster.startAgent(cluster.configuredWorkerIds().get(0));
        List<Long> ran = new ArrayList<>();
        for (int i = 0; i < ids.size(); i++) {
            JsonObject done = api.awaitFinal(ids.get(i), WAIT);
            assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
            String[] lines = done.getString("stdout").split("\n");
            assertThat(lines[0]).isEqualTo("queued " + i);
            ran.add(Long.parseLong(lines[1].trim()));
        }
        assertThat(ran).as("one one-slot worker runs them first in, first out").isSorted();
    }

    @Test
    void sigtermLetsTheRunningTaskFinishAndReportThenExitsZero() {
        String id = api.submitCmd("sleep 2; echo finished anyway");
        String worker = api.awaitState(id, Set.of("RUNNING"), WAIT).getString("workerId");
        assertThat(cluster.stopAgent(worker)).isZero();
        JsonObject done = api.task(id);
        assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
        assertThat(done.getString("stdout")).isEqualTo("finished anyway\n");
        assertThat(api.workers()).extracting(w -> w.getString("id")).doesNotContain(worker);
    }
}
