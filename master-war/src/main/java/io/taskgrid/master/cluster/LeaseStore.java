package io.taskgrid.master.cluster;

import io.taskgrid.master.task.DatabaseDriver;
import io.taskgrid.master.task.WriteFence;

import java.sql.SQLException;
import java.time.Duration;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * What a master asks of its database about who may dispatch. Each call is one decision of the database; a call that
 * throws decided nothing this master can count on.
 */
public interface LeaseStore {

    /** Who holds the lease (or held it last), and whether it has run out. */
    record Holder(String id, long epoch, boolean expired) {
    }

    DatabaseDriver driver() throws SQLException;

    /** Takes the lease if it is free, run out, or {@code me}'s own from an earlier process: the new epoch. */
    OptionalLong acquire(String me, Duration lease) throws SQLException;

    /** Takes the lease whoever holds it: for a database only one process can open, where a holder is a remnant. */
    long takeOver(String me, Duration lease) throws SQLException;

    /** Extends the lease from the database's now, if {@code me} still holds it under {@code epoch}. */
    boolean renew(String me, long epoch, Duration lease) throws SQLException;

    /** Gives the lease up, so that a standby need not wait for it to run out. */
    void release(String me, long epoch) throws SQLException;

    Optional<Holder> holder() throws SQLException;

    /** Records that {@code me} is alive in {@code role}. */
    void seen(String me, String role) throws SQLException;

    /** How many masters other than {@code me} recorded that they were alive within {@code within}. */
    int othersSeenWithin(String me, Duration within) throws SQLException;

    /** The check that lets a transaction of {@code me} commit only while it holds the lease under {@code epoch}. */
    WriteFence fence(String me, long epoch);
}
