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
    void aRestartKeepsEveryTaskAndTheAgentsReclaimWhatTheyWereRunning() {
        JsonObject finished = api.awaitFinal(api.submitCmd("echo before restart"), WAIT);
        assertThat(finished.getString("state")).isEqualTo("SUCCEEDED");

        // Fill every slot, so that the next tasks stay queued across the restart. These finish while the master is
        // down: their agents keep the results and report them when it is back.
        List<String> inFlight = new ArrayList<>();
        for (int i = 0; i < cluster.config().workers(); i++) {
            inFlight.add(api.submitCmd("sleep 4; echo ran through the restart " + i));
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
        for (int i = 0; i < inFlight.size(); i++) {
            JsonObject done = api.awaitFinal(inFlight.get(i), WAIT);
            assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
            assertThat(done.getString("stdout")).isEqualTo("ran through the restart " + i + "\n");
            assertThat(done.getJsonArray("attempts")).as("nothing was run twice").hasSize(1);
        }
        for (int i = 0; i < queued.size(); i++) {
            JsonObject done = api.awaitFinal(queued.get(i), WAIT);
            assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
            assertThat(done.getString("stdout")).isEqualTo("queued across restart " + i + "\n");
        }
    }

    @Test
    void aResultStoredByAnAgentSurvivesTheAgentsRestartWhileTheMasterIsDown() {
        String id = api.submitCmd("sleep 3; echo kept on disk");
        String worker = api.awaitState(id, Set.of("RUNNING"), WAIT).getString("workerId");

        cluster.stopMaster();
        // Fixed wait: the command (3 s) finishes meanwhile; with the master down nothing outside the agent shows it.
        TaskgridClient.sleep(4000);
        assertThat(cluster.stopAgent(worker)).isZero();
        cluster.startMaster();
        cluster.startAgent(worker);

        JsonObject done = api.awaitFinal(id, WAIT);
        assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
        assertThat(done.getString("stdout")).isEqualTo("kept on disk\n");
        assertThat(done.getJsonArray("attempts")).hasSize(1);
    }
}
