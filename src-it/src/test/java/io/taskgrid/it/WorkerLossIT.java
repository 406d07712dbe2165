package io.taskgrid.it;

import io.taskgrid.it.cluster.LocalCluster;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** Agents that die, stop, leave and come back, with real processes and signals. */
@ExtendWith(SharedCluster.class)
class WorkerLossIT {

    private final TaskgridClient api = SharedCluster.client();
    private final LocalCluster cluster = SharedCluster.cluster();
    private static final Duration WAIT = Duration.ofSeconds(60);

    @AfterEach
    void removeStrayCommands() {
        // A SIGKILLed agent cannot stop its commands (reaping orphans comes with a later issue): clean up here.
        ProcessHandle.allProcesses()
                .filter(p -> p.info().commandLine().map(c -> c.contains("sleep 61")).orElse(false))
                .forEach(ProcessHandle::destroyForcibly);
    }

    @Test
    void anAgentKilledMidTaskLeavesItsTaskLostWhileTheOthersCarryOn() {
        String doomed = api.submitCmd("sleep 61");
        String victim = api.awaitState(doomed, Set.of("RUNNING"), WAIT).getString("workerId");

        Instant killedAt = Instant.now();
        cluster.killAgent(victim);
        JsonObject lost = api.awaitFinal(doomed, Duration.ofSeconds(30));
        System.out.printf("task LOST %d ms after its agent was killed%n",
                Duration.between(killedAt, Instant.now()).toMillis());
        assertThat(lost.getString("state")).isEqualTo("LOST");
        assertThat(lost.getString("reason")).contains(victim).contains("disconnected");
        assertThat(api.workers()).extracting(w -> w.getString("id")).doesNotContain(victim)
                .hasSize(cluster.config().workers() - 1);

        List<String> after = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            after.add(api.submitCmd("echo after " + i));
        }
        for (String id : after) {
            JsonObject done = api.awaitFinal(id, WAIT);
            assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
            assertThat(done.getString("workerId")).isNotEqualTo(victim);
        }
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
            ids.add(api.submitCmd("echo queued " + i));
        }
        TaskgridClient.sleep(1500);
        for (String id : ids) {
            assertThat(api.state(id)).isEqualTo("QUEUED");
        }

        cluster.startAgent(cluster.configuredWorkerIds().get(0));
        List<Instant> starts = new ArrayList<>();
        for (int i = 0; i < ids.size(); i++) {
            JsonObject done = api.awaitFinal(ids.get(i), WAIT);
            assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
            assertThat(done.getString("stdout")).isEqualTo("queued " + i + "\n");
            starts.add(Instant.parse(done.getString("startedAt")));
        }
        assertThat(starts).as("one one-slot worker runs them first in, first out").isSorted();
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
