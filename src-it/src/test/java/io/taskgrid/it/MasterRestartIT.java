package io.taskgrid.it;

import io.taskgrid.it.cluster.LocalCluster;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** The master's database outlives the master: stop it, start it, and every task is still there. */
@ExtendWith(SharedCluster.class)
class MasterRestartIT {

    private final TaskgridClient api = SharedCluster.client();
    private final LocalCluster cluster = SharedCluster.cluster();
    private static final Duration WAIT = Duration.ofSeconds(90);

    @Test
    void aRestartKeepsQueuedAndFinishedTasksAndSettlesTheOnesInFlight() {
        JsonObject finished = api.awaitFinal(api.submitCmd("echo before restart"), WAIT);
        assertThat(finished.getString("state")).isEqualTo("SUCCEEDED");

        // Fill every slot, so that the next tasks stay queued across the restart.
        List<String> inFlight = new ArrayList<>();
        for (int i = 0; i < cluster.config().workers(); i++) {
            inFlight.add(api.submitCmd("sleep 15"));
        }
        inFlight.forEach(id -> api.awaitState(id, Set.of("RUNNING"), WAIT));
        List<String> queued = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            queued.add(api.submitCmd("echo queued across restart " + i));
        }
        queued.forEach(id -> assertThat(api.state(id)).isEqualTo("QUEUED"));

        cluster.restartMaster();

        JsonObject again = api.task(finished.getString("id"));
        assertThat(again.getString("state")).isEqualTo("SUCCEEDED");
        assertThat(again.getString("stdout")).isEqualTo("before restart\n");
        assertThat(again.getString("finishedAt")).isEqualTo(finished.getString("finishedAt"));
        for (String id : inFlight) {
            JsonObject lost = api.task(id);
            assertThat(lost.getString("state")).isEqualTo("LOST");
            assertThat(lost.getString("reason")).contains("master restarted");
        }
        // The agents come back by themselves and the queued tasks run once their slots are free.
        cluster.awaitWorkers(cluster.config().workers(), Duration.ofSeconds(30));
        for (int i = 0; i < queued.size(); i++) {
            JsonObject done = api.awaitFinal(queued.get(i), WAIT);
            assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
            assertThat(done.getString("stdout")).isEqualTo("queued across restart " + i + "\n");
        }
    }
}
