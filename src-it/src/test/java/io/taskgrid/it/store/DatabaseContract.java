package io.taskgrid.it.store;

import io.taskgrid.it.cluster.PostgresServer;
import io.taskgrid.master.task.SchemaMigrations;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.postgresql.ds.PGSimpleDataSource;

import javax.sql.DataSource;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What a contract suite of the store runs on: every database family the master supports, the embedded H2 and a real
 * PostgreSQL server (Debian's package, started per suite; .ci/run installs it), each case on a fresh migrated database
 * (a schema of its own on PostgreSQL).
 */
abstract class DatabaseContract {

    @TempDir
    static Path dir;

    private static PostgresServer postgres;
    private static int databases;

    @BeforeAll
    static void startPostgres() {
        assertThat(PostgresServer.installation()).as("PostgreSQL must be installed (.ci/run installs it)").isPresent();
        postgres = PostgresServer.start(dir.resolve("postgres"), 55434);
    }

    @AfterAll
    static void stopPostgres() {
        if (postgres != null) {
            postgres.close();
            postgres = null;
        }
    }

    static List<String> families() {
        return List.of("h2", "postgresql");
    }

    /** A fresh, migrated database of {@code family}. */
    static DataSource database(String family) throws SQLException {
        DataSource dataSource;
        if (family.equals("h2")) {
            JdbcDataSource h2 = new JdbcDataSource();
            h2.setURL("jdbc:h2:file:" + dir.resolve("h2-" + (++databases)) + "/taskgrid;LOCK_TIMEOUT=10000");
            h2.setUser("taskgrid");
            h2.setPassword("taskgrid");
            dataSource = h2;
        } else {
            PGSimpleDataSource pg = new PGSimpleDataSource();
            pg.setUrl(postgres.jdbcUrl());
            pg.setUser(PostgresServer.USER);
            String schema = "c" + (++databases);
            try (Connection c = pg.getConnection(); Statement s = c.createStatement()) {
                s.execute("CREATE SCHEMA " + schema);
            }
            pg.setCurrentSchema(schema);
            dataSource = pg;
        }
        SchemaMigrations.migrate(dataSource);
        return dataSource;
    }
}
