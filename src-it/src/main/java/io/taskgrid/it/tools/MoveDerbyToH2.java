package io.taskgrid.it.tools;

import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Moves a Taskgrid database from Derby (what releases before H2 used) to a new H2 file: the three tables, every row,
 * every column they had. The result is a database "from before migrations": the master's first start on it applies
 * the versioned migrations and takes over the unfinished tasks, as it does for any such database.
 *
 * <p>Usage (with the master stopped): {@code MoveDerbyToH2 DERBY_DIR H2_FILE} where DERBY_DIR is the old
 * {@code taskgrid-db} folder and H2_FILE the new database's path without {@code .mv.db}, e.g.
 * {@code $WLP/usr/servers/taskgrid/taskgrid-db/taskgrid} after moving the Derby folder aside.
 */
public final class MoveDerbyToH2 {

    private static final List<String> TABLES = List.of("TG_TASK", "TG_ATTEMPT", "TG_IDEMPOTENCY_KEY");
    /** Columns that JPA made SMALLINT on Derby for a Java boolean. */
    private static final Set<String> FLAGS = Set.of("STDOUT_TRUNCATED", "STDERR_TRUNCATED", "CANCEL_REQUESTED");

    private MoveDerbyToH2() {
    }

    public static void main(String[] args) throws SQLException {
        if (args.length != 2) {
            System.err.println("usage: MoveDerbyToH2 DERBY_DIR H2_FILE");
            System.exit(2);
        }
        List<String> moved = move(args[0], args[1]);
        moved.forEach(System.out::println);
    }

    /** Copies the tables; returns a line per table saying how many rows moved. */
    public static List<String> move(String derbyDir, String h2File) throws SQLException {
        List<String> report = new ArrayList<>();
        try (Connection from = DriverManager.getConnection("jdbc:derby:" + derbyDir + ";create=false");
             Connection to = DriverManager.getConnection("jdbc:h2:file:" + h2File + ";WRITE_DELAY=0", "taskgrid",
                     "taskgrid")) {
            to.setAutoCommit(false);
            for (String table : TABLES) {
                if (!exists(from, table)) {
                    continue;
                }
                report.add(table + ": " + copy(from, to, table) + " row(s)");
            }
            to.commit();
        } finally {
            try {
                DriverManager.getConnection("jdbc:derby:;shutdown=true");
            } catch (SQLException expected) {
                // Derby answers a clean shutdown with an exception
            }
        }
        return report;
    }

    private static boolean exists(Connection connection, String table) throws SQLException {
        try (ResultSet tables = connection.getMetaData().getTables(null, null, table, null)) {
            return tables.next();
        }
    }

    private static int copy(Connection from, Connection to, String table) throws SQLException {
        List<String> columns = new ArrayList<>();
        List<String> definitions = new ArrayList<>();
        String primaryKey = primaryKey(from.getMetaData(), table);
        try (Statement s = from.createStatement(); ResultSet r = s.executeQuery("SELECT * FROM " + table + " WHERE 1 = 0")) {
            ResultSetMetaData meta = r.getMetaData();
            for (int i = 1; i <= meta.getColumnCount(); i++) {
                String name = meta.getColumnName(i).toUpperCase(Locale.ROOT);
                columns.add(name);
                definitions.add(name + " " + typeOf(name, meta, i)
                        + (meta.isNullable(i) == ResultSetMetaData.columnNoNulls ? " NOT NULL" : ""));
            }
        }
        try (Statement s = to.createStatement()) {
            s.execute("CREATE TABLE " + table + " (" + String.join(", ", definitions)
                    + (primaryKey == null ? "" : ", PRIMARY KEY (" + primaryKey + ")") + ")");
        }
        String marks = String.join(", ", java.util.Collections.nCopies(columns.size(), "?"));
        int rows = 0;
        try (Statement s = from.createStatement(); ResultSet r = s.executeQuery("SELECT * FROM " + table);
             PreparedStatement insert = to.prepareStatement("INSERT INTO " + table + " (" + String.join(", ", columns)
                     + ") VALUES (" + marks + ")")) {
            while (r.next()) {
                for (int i = 1; i <= columns.size(); i++) {
                    Object value = r.getObject(i);
                    if (FLAGS.contains(columns.get(i - 1)) && value instanceof Number n) {
                        value = n.intValue() != 0;
                    }
                    insert.setObject(i, value instanceof java.sql.Clob clob ? clob.getSubString(1, (int) clob.length())
                            : value);
                }
                insert.addBatch();
                if (++rows % 500 == 0) {
                    insert.executeBatch();
                }
            }
            insert.executeBatch();
        }
        return rows;
    }

    private static String primaryKey(DatabaseMetaData meta, String table) throws SQLException {
        try (ResultSet keys = meta.getPrimaryKeys(null, null, table)) {
            List<String> names = new ArrayList<>();
            while (keys.next()) {
                names.add(keys.getString("COLUMN_NAME"));
            }
            return names.isEmpty() ? null : String.join(", ", names);
        }
    }

    private static String typeOf(String name, ResultSetMetaData meta, int i) throws SQLException {
        if (FLAGS.contains(name)) {
            return "BOOLEAN";
        }
        return switch (meta.getColumnType(i)) {
            case Types.CLOB, Types.LONGVARCHAR -> "CLOB";
            case Types.VARCHAR, Types.CHAR -> "VARCHAR(" + meta.getPrecision(i) + ")";
            case Types.BIGINT -> "BIGINT";
            case Types.INTEGER, Types.SMALLINT -> "INTEGER";
            case Types.BOOLEAN, Types.BIT -> "BOOLEAN";
            case Types.TIMESTAMP -> "TIMESTAMP";
            default -> meta.getColumnTypeName(i);
        };
    }
}
