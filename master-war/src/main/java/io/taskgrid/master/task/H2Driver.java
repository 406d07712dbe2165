package io.taskgrid.master.task;

import java.sql.Connection;
import java.util.Optional;

/**
 * H2, embedded: one process, so one master, which the database's file lock already ensures. Nothing is announced or
 * listened for (the master takes every change itself), and the locks several masters need are not taken.
 */
final class H2Driver implements DatabaseDriver {

    @Override
    public String name() {
        return "H2";
    }

    @Override
    public boolean allowsSeveralMasters() {
        return false;
    }

    @Override
    public String nowPlusMillis() {
        return "DATEADD(MILLISECOND, ?, CURRENT_TIMESTAMP)";
    }

    /** {@code FOR UPDATE}: with one master, a renewal waits for at most the writer's one transaction. */
    @Override
    public String fenceCheck(String fromWhere) {
        return "SELECT EPOCH " + fromWhere + " FOR UPDATE";
    }

    @Override
    public boolean fenceBoundsIdleTime() {
        return false;
    }

    /** H2's own lock timeout applies: it has no per-transaction one. */
    @Override
    public void waitForLocksAtMost(Connection c, int millis) {
    }

    @Override
    public String claimLock() {
        return "FOR UPDATE SKIP LOCKED";
    }

    @Override
    public void announce(Connection c) {
    }

    @Override
    public Optional<Notifications> listen(Connection c, StringBuilder why) {
        why.append("the database is H2, which one master uses alone");
        return Optional.empty();
    }

    @Override
    public void lockKeyFile(Connection c) {
    }

    @Override
    public void lockTokens(Connection c) {
    }

    @Override
    public String toString() {
        return name();
    }
}
