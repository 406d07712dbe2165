package io.taskgrid.it;

import io.taskgrid.it.cluster.ClusterConfig;
import io.taskgrid.it.cluster.LocalCluster;
import io.taskgrid.it.cluster.MasterStartFailure;
import io.taskgrid.it.cluster.ServerLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * H2 is embedded: one process opens its file. A second master pointed at the shared cluster's database file is
 * refused at start, saying why and what to use instead, while the first one runs on.
 */
@ExtendWith(SharedCluster.class)
class EmbeddedDatabaseOneMasterIT {

    @Test
    void theEmbeddedDatabaseRefusesASecondMaster() {
        LocalCluster shared = SharedCluster.cluster();
        Path sharedDb = shared.config().libertyDir().resolve("usr/servers").resolve(shared.config().serverName())
                .resolve("taskgrid-db");
        Path logs = Path.of(SharedCluster.property("taskgrid.log.dir"));
        ClusterConfig second = ClusterConfig.builder(shared.config().libertyDir(), shared.config().agentJar())
                .serverName("taskgrid-h2-second").ports(29692, 29651).workers(0).logDir(logs.resolve("h2-second"))
                .stateDir(logs.resolve("h2-second-state")).masterEnv("TASKGRID_DB_DIR", sharedDb.toString()).build();
        ServerLayout.copyOfBuildServer(shared.config().libertyDir(), "taskgrid-h2-second", Map.of(), Map.of());

        assertThatThrownBy(() -> LocalCluster.start(second).close())
                .isInstanceOf(MasterStartFailure.class)
                .hasMessageContaining("the embedded database serves one master only");
        org.assertj.core.api.Assertions.assertThat(SharedCluster.client().get("/health/ready").status())
                .as("the first master runs on").isEqualTo(200);
    }

}
