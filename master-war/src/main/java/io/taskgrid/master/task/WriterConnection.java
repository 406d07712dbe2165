package io.taskgrid.master.task;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.SQLException;

/**
 * The one JDBC connection of a writer thread (the group commit's, the output chunks'): opened when first needed, in
 * manual commit, kept across batches so that a batch does not pay for a connection, and dropped after a failure so
 * that the next batch starts on a fresh one. Not thread-safe: the writer thread that owns it is its only user.
 */
public final class WriterConnection implements AutoCloseable {

    private final DataSource dataSource;
    private Connection connection;

    public WriterConnection(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    /** The open connection, opening one if there is none. */
    public Connection get() throws SQLException {
        if (connection == null) {
            connection = dataSource.getConnection();
            connection.setAutoCommit(false);
        }
        return connection;
    }

    /** Undoes the batch that failed; a connection that cannot even roll back is dropped. */
    public void rollback() {
        if (connection != null) {
            try {
                connection.rollback();
            } catch (SQLException e) {
                close();
            }
        }
    }

    /** Whether the next batch needs a new connection: none is open, or the open one no longer answers. */
    public boolean isBroken() {
        try {
            return connection == null || connection.isClosed() || !connection.isValid(2);
        } catch (SQLException invalid) {
            return true;
        }
    }

    @Override
    public void close() {
        if (connection != null) {
            try {
                connection.close();
            } catch (SQLException e) {
                // it is being thrown away
            }
            connection = null;
        }
    }
}
