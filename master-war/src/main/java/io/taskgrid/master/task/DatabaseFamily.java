package io.taskgrid.master.task;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * The SQL that differs between the databases a master runs on. Everything else the lease needs is standard SQL;
 * these few fragments are not, and are said here once rather than tested for at every use.
 */
public enum DatabaseFamily {

    /** Embedded, one process: one master at most, which its file lock already ensures. */
    H2("DATEADD(MILLISECOND, ?, CURRENT_TIMESTAMP)", "FOR UPDATE", false),

    /** A server that several masters share. */
    POSTGRESQL("(CURRENT_TIMESTAMP + CAST(? AS DOUBLE PRECISION) * INTERVAL '1 millisecond')", "FOR KEY SHARE", true);

    private final String nowPlusMillis;
    private final String fenceLock;
    private final boolean severalMasters;

    DatabaseFamily(String nowPlusMillis, String fenceLock, boolean severalMasters) {
        this.nowPlusMillis = nowPlusMillis;
        this.fenceLock = fenceLock;
        this.severalMasters = severalMasters;
    }

    /** The database's clock plus a number of milliseconds given as the statement's parameter. */
    public String nowPlusMillis() {
        return nowPlusMillis;
    }

    /**
     * The lock a write takes on the lease row to check that its master still holds the lease. A takeover locks the row
     * {@code FOR UPDATE} first, which waits for every write that checked the old epoch to commit. On PostgreSQL the
     * fence's lock is {@code FOR KEY SHARE}, which a renewal (an {@code UPDATE} of no key column) does not wait for:
     * under load the writers' checks overlap without a gap, and a renewal that waited for one would starve until the
     * lease ran out. On H2 (one master) {@code FOR UPDATE}: a renewal waits for at most the writer's one transaction.
     */
    public String fenceLock() {
        return fenceLock;
    }

    /** Whether more than one master may use one database of this family (a standby waits for the lease). */
    public boolean allowsSeveralMasters() {
        return severalMasters;
    }

    /** The channel on which a change for the active master is announced (PostgreSQL's LISTEN/NOTIFY). */
    public static final String INBOX_CHANNEL = "taskgrid_inbox";

    /**
     * Tells the active master, once the transaction commits, that a change waits for it: on PostgreSQL a NOTIFY on
     * {@link #INBOX_CHANNEL}; on H2, where the one master takes every change itself, nothing.
     */
    public void announce(Connection c) throws SQLException {
        if (this == POSTGRESQL) {
            try (java.sql.Statement s = c.createStatement()) {
                s.execute("NOTIFY " + INBOX_CHANNEL);
            }
        }
    }

    /** The key of the advisory lock under which a master rewrites the shared secret key file. */
    private static final long KEY_FILE_LOCK = 0x7467736563726b65L;

    /**
     * Holds, until the transaction ends, the lock under which a master adds a key to the secret key file that every
     * master of the database shares: two masters adding keys at once would each write the file as they read it, and
     * the key written first would be lost with everything it sealed. H2: nothing (one master).
     */
    public void lockKeyFile(Connection c) throws SQLException {
        advisoryLockUntilCommit(c, KEY_FILE_LOCK);
    }

    /** How long a transaction waits for one of the advisory locks before it gives up (the caller answers 503). */
    static final int LOCK_WAIT_MILLIS = 5_000;
    /**
     * How long a transaction that holds one of them may sit idle before PostgreSQL ends its session, so that a master
     * that froze or was cut off while holding it (a long GC, a stopped VM, a network partition) does not stall every
     * other master's intake until the dead connection is noticed, which can take hours.
     */
    static final int HOLDER_IDLE_MILLIS = 10_000;

    /** The key of the advisory lock under which a master checks and stores a new API token. */
    private static final long TOKENS_LOCK = 0x7467746f6b656e73L;

    /**
     * Holds, until the transaction ends, the lock under which a master checks a new API token against the others (one
     * role per name, the most tokens active) and stores it, so that two masters cannot each pass a check the pair
     * breaks: an operator's name given a submitter token, say. H2: nothing (one master, which locks in memory).
     */
    public void lockTokens(Connection c) throws SQLException {
        advisoryLockUntilCommit(c, TOKENS_LOCK);
    }

    /**
     * Bounds how long the rest of the transaction waits for a row lock (PostgreSQL; H2's own lock timeout applies
     * there): a wait that would hold up a master's thread gives up with the database's error instead.
     */
    public void waitForLocksAtMost(Connection c, int millis) throws SQLException {
        if (this == POSTGRESQL) {
            try (java.sql.PreparedStatement s = c.prepareStatement("SELECT set_config('lock_timeout', ?, true)")) {
                s.setString(1, Integer.toString(millis));
                s.execute();
            }
        }
    }

    private void advisoryLockUntilCommit(Connection c, long key) throws SQLException {
        if (this == POSTGRESQL) {
            try (java.sql.Statement s = c.createStatement()) {
                s.execute("SELECT set_config('lock_timeout', '" + LOCK_WAIT_MILLIS + "', true), "
                        + "set_config('idle_in_transaction_session_timeout', '" + HOLDER_IDLE_MILLIS + "', true)");
            }
            try (java.sql.PreparedStatement s = c.prepareStatement("SELECT pg_advisory_xact_lock(?)")) {
                s.setLong(1, key);
                s.execute();
            }
        }
    }

    /** The family of the database behind {@code c}. */
    public static DatabaseFamily of(Connection c) throws SQLException {
        String product = c.getMetaData().getDatabaseProductName();
        if (product.equalsIgnoreCase("H2")) {
            return H2;
        }
        if (product.equalsIgnoreCase("PostgreSQL")) {
            return POSTGRESQL;
        }
        throw new SQLException("a master runs on H2 or PostgreSQL, not on " + product);
    }
}
