package io.taskgrid.it;

import io.taskgrid.it.cluster.ClusterConfig;
import io.taskgrid.it.cluster.LocalCluster;
import io.taskgrid.it.cluster.PostgresServer;
import io.taskgrid.it.cluster.ServerLayout;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The master on PostgreSQL instead of H2: a real server (Debian's package, started here in a data directory of its
 * own), the master set up the way of docs/operations.md (bootstrap.properties taskgrid.db=postgresql, the address in
 * server.env), two real agents. Tasks run, and a restart of the master loses none of them.
 */
class PostgresIT {

    private static PostgresServer postgres;
    private static LocalCluster cluster;
    private static TaskgridClient api;

    @BeforeAll
    static void startOnPostgres() {
        assumeTrue(PostgresServer.installation().isPresent(), "PostgreSQL is not installed here (.ci/run installs it)");
        Path logs = Path.of(SharedCluster.property("taskgrid.log.dir"));
        postgres = PostgresServer.start(logs.resolve("postgres"), 55433);
        Path wlp = Path.of(SharedCluster.property("taskgrid.wlp.dir"));
        Map<String, String> env = Map.of("TASKGRID_DB_HOST", "127.0.0.1",
                "TASKGRID_DB_PORT", Integer.toString(postgres.port()), "TASKGRID_LOST_AFTER_SECONDS", "8");
        ServerLayout.copyOfBuildServer(wlp, "taskgrid-pg", Map.of("taskgrid.db", "postgresql"), env);
        cluster = LocalCluster.start(ClusterConfig.builder(wlp, Path.of(SharedCluster.property("taskgrid.agent.jar")))
                .serverName("taskgrid-pg").ports(29192, 29151).workers(2).baseWorkerId("pg")
                .reconnectDelay(Duration.ofSeconds(1)).logDir(logs.resolve("pg-cluster"))
                .stateDir(logs.resolve("pg-state")).build());
        api = new TaskgridClient(cluster.config().apiBase(), cluster.apiToken());
    }

    @AfterAll
    static void stop() {
        if (cluster != null) {
            cluster.close();
        }
        if (postgres != null) {
            postgres.close();
        }
    }

    @Test
    void tasksRunAndTheirResultsOutliveARestartOfTheMaster() {
        List<String> done = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            done.add(api.submitCmd("echo pg " + i + "; printf 'n\\0ul' >&2"));
        }
        for (int i = 0; i < done.size(); i++) {
            JsonObject task = api.awaitFinal(done.get(i), Duration.ofSeconds(60));
            assertThat(task.getString("state")).isEqualTo("SUCCEEDED");
            assertThat(task.getString("stdout")).isEqualTo("pg " + i + "\n");
            assertThat(task.getString("stderr")).as("NUL, which PostgreSQL text cannot hold").isEqualTo("n\uFFFDul");
        }
        // Connections the master closed went back to its pool: its threads that never end (the writer, the dispatcher,
        // gRPC's) do not each keep one for life, so its pool is not near full while nothing happens.
        long open = masterConnections();
        System.out.printf("[postgres] connections the master has open after 20 tasks, at rest: %d%n", open);
        assertThat(open).as("of a pool of 20").isLessThanOrEqualTo(10);
        String running = api.submitCmd("sleep 3; echo across the restart");
        api.awaitState(running, Set.of("RUNNING"), Duration.ofSeconds(30));
        String queued = api.submitCmd("echo queued on pg");

        cluster.restartMaster();

        assertThat(api.task(done.get(0)).getString("stdout")).isEqualTo("pg 0\n");
        JsonObject across = api.awaitFinal(running, Duration.ofSeconds(60));
        assertThat(across.getString("state")).isEqualTo("SUCCEEDED");
        assertThat(across.getJsonArray("attempts")).as("reclaimed, not run twice").hasSize(1);
        assertThat(api.awaitFinal(queued, Duration.ofSeconds(60)).getString("stdout")).isEqualTo("queued on pg\n");
        assertThat(api.get("/tasks?limit=1000").json().getJsonArray("tasks")).hasSize(22);
    }

    /** The master's connections to the database, as PostgreSQL counts them (the pool's free ones included). */
    private static long masterConnections() {
        try (java.sql.Connection c = java.sql.DriverManager.getConnection(postgres.jdbcUrl(), PostgresServer.USER, null);
             java.sql.Statement s = c.createStatement();
             java.sql.ResultSet r = s.executeQuery("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = "
                     + "current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'")) {
            r.next();
            return r.getLong(1);
        } catch (java.sql.SQLException e) {
            throw new IllegalStateException(e);
        }
    }
}
