package io.taskgrid.master.task;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Optional;

/**
 * Everything in which the databases a master runs on differ, and nothing else: the lease (its clock and the lock its
 * fence takes), the claim, the wake-up, and the few locks several masters need. The stores and the cluster's pieces
 * write standard SQL and ask their driver for these; each driver is one class, and one contract suite
 * ({@code DatabaseDriverContractTest}, plus the stores' suites) runs against a real H2 and a real PostgreSQL.
 *
 * <p>Why a seam here rather than a store per database: the statements that move tasks are the same on both, and one
 * copy of them cannot drift. What differs is small and is where a second master changes the answer.
 */
public interface DatabaseDriver {

    /** Embedded, one process: one master at most, which H2's file lock already ensures. */
    DatabaseDriver H2 = new H2Driver();

    /** A server several masters share. */
    DatabaseDriver POSTGRESQL = new PostgresDriver();

    /** The family's name, for messages. */
    String name();

    /**
     * Whether more than one master may use one database of this family. Where not (H2), the one master holds every
     * unfinished task: it takes over at start whatever an earlier master owned. This is the one place that says so.
     */
    boolean allowsSeveralMasters();

    // The lease.

    /** The database's clock plus a number of milliseconds given as the statement's parameter. */
    String nowPlusMillis();

    /**
     * The fence's check of a lease row: {@code SELECT EPOCH ... fromWhere} under the lock that makes a takeover (which
     * locks the row {@code FOR UPDATE} first) wait for every write that checked the old epoch. Where
     * {@link #fenceBoundsIdleTime()}, its first parameter is how long, in milliseconds, the transaction may then sit
     * idle before the database ends it, so that a master that froze inside it does not hold the row for hours.
     */
    String fenceCheck(String fromWhere);

    /** Whether {@link #fenceCheck} takes the idle bound as its first parameter. */
    boolean fenceBoundsIdleTime();

    /**
     * Bounds how long the rest of the transaction waits for a row lock: a wait that would hold up a master's thread
     * gives up with the database's error instead. Where the database has only a global lock timeout (H2), that applies.
     */
    void waitForLocksAtMost(Connection c, int millis) throws SQLException;

    // The claim.

    /**
     * The lock a claim takes on the queued rows it looks at: rows another master's claim holds are skipped rather than
     * waited for, so masters claiming at once take disjoint sets and none waits behind another.
     */
    String claimLock();

    // The wake-up.

    /**
     * Tells every master, once the transaction commits, that a change waits in the database: a task to claim, a cancel,
     * a drain. Nothing where no other master can be listening.
     */
    void announce(Connection c) throws SQLException;

    /**
     * Listens on {@code c} for {@link #announce}ments; empty, with the reason appended to {@code why}, where they cannot
     * be pushed (then the master looks at intervals). {@code c} must stay open and unshared while listened on.
     */
    Optional<Notifications> listen(Connection c, StringBuilder why) throws SQLException;

    /** Announcements arriving on a listening connection. */
    interface Notifications {
        /** Whether an announcement came within {@code atMost}. */
        boolean await(Duration atMost) throws SQLException;

        /** Stops listening, before the connection goes back to its pool. */
        void stop();
    }

    // Locks several masters need.

    /**
     * Holds, until the transaction ends, the lock under which a master adds a key to the secret key file that every
     * master of the database shares: two masters adding keys at once would each write the file as they read it, and
     * the key written first would be lost with everything it sealed. Nothing where there is one master.
     */
    void lockKeyFile(Connection c) throws SQLException;

    /**
     * Holds, until the transaction ends, the lock under which a master checks a new API token against the others (one
     * role per name, the most tokens active) and stores it, so that two masters cannot each pass a check the pair
     * breaks. Nothing where there is one master (it locks in memory).
     */
    void lockTokens(Connection c) throws SQLException;

    /** The driver for the database behind {@code c}. */
    static DatabaseDriver of(Connection c) throws SQLException {
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
