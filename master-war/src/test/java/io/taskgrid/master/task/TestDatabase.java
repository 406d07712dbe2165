package io.taskgrid.master.task;

import org.h2.jdbcx.JdbcDataSource;

import javax.sql.DataSource;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadFactory;

/** A real H2 database in a file of the test's own, as the master uses it, and a store over it. */
public final class TestDatabase {

    private TestDatabase() {
    }

    public static DataSource h2(Path dir) {
        JdbcDataSource dataSource = new JdbcDataSource();
        dataSource.setURL("jdbc:h2:file:" + dir.resolve("taskgrid") + ";WRITE_DELAY=0;RETENTION_TIME=0;LOCK_TIMEOUT=10000");
        dataSource.setUser("taskgrid");
        dataSource.setPassword("taskgrid");
        return dataSource;
    }

    /** A store over a fresh database in {@code dir}, migrated, its writer running. */
    public static TaskStore openStore(Path dir) {
        TaskStore store = new TaskStore(h2(dir), new SecretBox(dir.resolve("secret.key").toString()));
        store.open(threads());
        return store;
    }

    public static ThreadFactory threads() {
        return runnable -> {
            Thread thread = new Thread(runnable);
            thread.setDaemon(true);
            return thread;
        };
    }

    /** The rows of a query, each as a list of strings, for assertions. */
    public static List<List<String>> rows(DataSource dataSource, String sql) throws SQLException {
        List<List<String>> rows = new ArrayList<>();
        try (Connection c = dataSource.getConnection(); Statement s = c.createStatement(); ResultSet r = s.executeQuery(sql)) {
            int columns = r.getMetaData().getColumnCount();
            while (r.next()) {
                List<String> row = new ArrayList<>();
                for (int i = 1; i <= columns; i++) {
                    row.add(r.getString(i));
                }
                rows.add(row);
            }
        }
        return rows;
    }

    public static void execute(DataSource dataSource, String... statements) throws SQLException {
        try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
            for (String sql : statements) {
                s.execute(sql);
            }
        }
    }
}
