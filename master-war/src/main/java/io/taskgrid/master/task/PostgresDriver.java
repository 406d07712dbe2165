package io.taskgrid.master.task;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Optional;

/**
 * PostgreSQL, which several masters share: claims skip rows another claim holds, changes are announced with
 * {@code NOTIFY} and pushed to listening masters, and the fence's lock lets renewals through.
 *
 * <p>The driver's notification API is reached by reflection: the application has no compile-time dependency on a JDBC
 * driver and deploys unchanged where none of PostgreSQL's is present.
 */
final class PostgresDriver implements DatabaseDriver {

    /** The channel on which changes are announced. */
    static final String INBOX_CHANNEL = "taskgrid_inbox";

    /** How long a transaction waits for one of the advisory locks before it gives up (the caller answers 503). */
    static final int LOCK_WAIT_MILLIS = 5_000;
    /**
     * How long a transaction that holds one of them may sit idle before PostgreSQL ends its session, so that a master
     * that froze or was cut off while holding it (a long GC, a stopped VM, a network partition) does not stall every
     * other master's intake until the dead connection is noticed, which can take hours.
     */
    static final int HOLDER_IDLE_MILLIS = 10_000;

    /** The key of the advisory lock under which a master rewrites the shared secret key file. */
    private static final long KEY_FILE_LOCK = 0x7467736563726b65L;
    /** The key of the advisory lock under which a master checks and stores a new API token. */
    private static final long TOKENS_LOCK = 0x7467746f6b656e73L;

    @Override
    public String name() {
        return "PostgreSQL";
    }

    @Override
    public boolean allowsSeveralMasters() {
        return true;
    }

    @Override
    public String nowPlusMillis() {
        return "(CURRENT_TIMESTAMP + CAST(? AS DOUBLE PRECISION) * INTERVAL '1 millisecond')";
    }

    /**
     * {@code FOR KEY SHARE}, which a renewal (an {@code UPDATE} of no key column) does not wait for: under load the
     * writers' checks overlap without a gap, and a renewal that waited for one would starve until the lease ran out. The
     * same statement bounds the transaction's idle time, saving a round trip on every write.
     */
    @Override
    public String fenceCheck(String fromWhere) {
        return "SELECT EPOCH, set_config('idle_in_transaction_session_timeout', ?, true) " + fromWhere
                + " FOR KEY SHARE";
    }

    @Override
    public boolean fenceBoundsIdleTime() {
        return true;
    }

    @Override
    public void waitForLocksAtMost(Connection c, int millis) throws SQLException {
        try (PreparedStatement s = c.prepareStatement("SELECT set_config('lock_timeout', ?, true)")) {
            s.setString(1, Integer.toString(millis));
            s.execute();
        }
    }

    @Override
    public String claimLock() {
        return "FOR UPDATE SKIP LOCKED";
    }

    @Override
    public void announce(Connection c) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute("NOTIFY " + INBOX_CHANNEL);
        }
    }

    @Override
    public Optional<Notifications> listen(Connection c, StringBuilder why) throws SQLException {
        Class<?> api = pgConnectionClass();
        if (api == null) {
            why.append("the application cannot see the PostgreSQL driver's classes (on Liberty, server.xml shares "
                    + "them through the webApplication's classloader commonLibraryRef)");
            return Optional.empty();
        }
        Object pg;
        try {
            pg = c.unwrap(api);
        } catch (SQLException e) {
            why.append("the server's connection does not unwrap to ").append(api.getName()).append(": ")
                    .append(e.getMessage());
            return Optional.empty();
        }
        Method notifications;
        try {
            notifications = api.getMethod("getNotifications", int.class);
        } catch (NoSuchMethodException e) {
            why.append("the PostgreSQL driver has no getNotifications(int)");
            return Optional.empty();
        }
        c.setAutoCommit(true);
        try (Statement s = c.createStatement()) {
            s.execute("LISTEN " + INBOX_CHANNEL);
        }
        return Optional.of(new Listening(c, pg, notifications));
    }

    private static Class<?> pgConnectionClass() {
        for (ClassLoader loader : new ClassLoader[]{Thread.currentThread().getContextClassLoader(),
                PostgresDriver.class.getClassLoader()}) {
            if (loader == null) {
                continue;
            }
            try {
                return Class.forName("org.postgresql.PGConnection", false, loader);
            } catch (ClassNotFoundException | LinkageError e) {
                // the next loader, or none
            }
        }
        return null;
    }

    /** A connection LISTENing on {@link #INBOX_CHANNEL}. */
    private record Listening(Connection c, Object pg, Method notifications) implements Notifications {
        @Override
        public boolean await(Duration atMost) throws SQLException {
            try {
                Object received = notifications.invoke(pg, (int) Math.max(1, atMost.toMillis()));
                return received instanceof Object[] list && list.length > 0;
            } catch (InvocationTargetException e) {
                if (e.getCause() instanceof SQLException sql) {
                    throw sql;
                }
                throw new SQLException("waiting for notifications failed", e.getCause());
            } catch (IllegalAccessException e) {
                throw new SQLException("the driver's notification API cannot be called", e);
            }
        }

        /** The connection goes back to the pool: nothing may keep queueing notifications on it. */
        @Override
        public void stop() {
            try (Statement s = c.createStatement()) {
                s.execute("UNLISTEN *");
            } catch (SQLException e) {
                // a broken connection, which the pool drops
            }
        }
    }

    @Override
    public void lockKeyFile(Connection c) throws SQLException {
        advisoryLockUntilCommit(c, KEY_FILE_LOCK);
    }

    @Override
    public void lockTokens(Connection c) throws SQLException {
        advisoryLockUntilCommit(c, TOKENS_LOCK);
    }

    private static void advisoryLockUntilCommit(Connection c, long key) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute("SELECT set_config('lock_timeout', '" + LOCK_WAIT_MILLIS + "', true), "
                    + "set_config('idle_in_transaction_session_timeout', '" + HOLDER_IDLE_MILLIS + "', true)");
        }
        try (PreparedStatement s = c.prepareStatement("SELECT pg_advisory_xact_lock(?)")) {
            s.setLong(1, key);
            s.execute();
        }
    }

    @Override
    public String toString() {
        return name();
    }
}
