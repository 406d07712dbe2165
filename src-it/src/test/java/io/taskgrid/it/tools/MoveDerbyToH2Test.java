package io.taskgrid.it.tools;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

import static org.assertj.core.api.Assertions.assertThat;

/** An old Derby database, as the last Derby release left it, moved to H2 with every row and column. */
class MoveDerbyToH2Test {

    @Test
    void everyTableRowAndColumnMoves(@TempDir Path dir) throws Exception {
        String derby = dir.resolve("taskgrid-db").toString();
        try (Connection c = DriverManager.getConnection("jdbc:derby:" + derby + ";create=true");
             Statement s = c.createStatement()) {
            // As EclipseLink made them on Derby: booleans as SMALLINT, text as CLOB.
            s.execute("CREATE TABLE TG_TASK (ID VARCHAR(36) NOT NULL, CMD CLOB NOT NULL, STATE VARCHAR(16) NOT NULL, "
                    + "STDOUT_TEXT CLOB, STDOUT_TRUNCATED SMALLINT, CANCEL_REQUESTED SMALLINT, SUBMITTED_AT TIMESTAMP "
                    + "NOT NULL, MAX_ATTEMPTS INTEGER, PRIMARY KEY (ID))");
            s.execute("CREATE TABLE TG_ATTEMPT (ID VARCHAR(36) NOT NULL, TASK_ID VARCHAR(36) NOT NULL, "
                    + "WORKER_ID VARCHAR(64) NOT NULL, ASSIGNED_AT TIMESTAMP NOT NULL, OUTCOME VARCHAR(16), PRIMARY KEY (ID))");
            s.execute("INSERT INTO TG_TASK VALUES ('t1', 'echo a', 'SUCCEEDED', 'a\n', 0, 1, "
                    + "TIMESTAMP('2026-01-01 00:00:00'), 3)");
            s.execute("INSERT INTO TG_TASK VALUES ('t2', 'sleep 9', 'QUEUED', NULL, 0, 0, TIMESTAMP('2026-01-01 00:00:01'), "
                    + "NULL)");
            s.execute("INSERT INTO TG_ATTEMPT VALUES ('a1', 't1', 'w1', TIMESTAMP('2026-01-01 00:00:00'), 'SUCCEEDED')");
        }
        try {
            DriverManager.getConnection("jdbc:derby:" + derby + ";shutdown=true");
        } catch (SQLException expected) {
            // Derby says a clean shutdown with an exception
        }

        String h2 = dir.resolve("new/taskgrid").toString();
        assertThat(MoveDerbyToH2.move(derby, h2)).containsExactly("TG_TASK: 2 row(s)", "TG_ATTEMPT: 1 row(s)");

        try (Connection c = DriverManager.getConnection("jdbc:h2:file:" + h2, "taskgrid", "taskgrid");
             Statement s = c.createStatement();
             ResultSet r = s.executeQuery("SELECT ID, CMD, STATE, STDOUT_TEXT, CANCEL_REQUESTED, MAX_ATTEMPTS, "
                     + "SUBMITTED_AT FROM TG_TASK ORDER BY ID")) {
            assertThat(r.next()).isTrue();
            assertThat(r.getString(2)).isEqualTo("echo a");
            assertThat(r.getString(4)).isEqualTo("a\n");
            assertThat(r.getBoolean(5)).isTrue();
            assertThat(r.getInt(6)).isEqualTo(3);
            assertThat(r.getString(7)).startsWith("2026-01-01 00:00:00");
            assertThat(r.getMetaData().getColumnTypeName(5)).isEqualTo("BOOLEAN");
            assertThat(r.next()).isTrue();
            assertThat(r.getString(3)).isEqualTo("QUEUED");
            assertThat(r.getObject(6)).isNull();
        }
    }
}
