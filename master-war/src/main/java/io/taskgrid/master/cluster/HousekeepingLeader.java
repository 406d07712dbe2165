package io.taskgrid.master.cluster;

import java.sql.SQLException;
import java.time.Duration;
import java.util.OptionalLong;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Which master of a database runs the cluster's housekeeping: retention, and handing on the tasks of masters that are
 * gone. The one that holds the lease in row {@code housekeeping}; the others try for it every fifth of a lease, so another
 * takes over within a lease of the leader's death. Leading is only about housekeeping: every master dispatches to its
 * own agents whether it leads or not. A leader that cannot renew stops its duties once its last renewal is a lease
 * old, by its own clock, so that two never run them at once for long (and their work is safe to repeat anyway).
 */
public final class HousekeepingLeader implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(HousekeepingLeader.class.getName());

    /** What the leader does. */
    public interface Duties {
        /** Became the leader: start what runs on its own schedule (retention). */
        void lead();

        /** No longer the leader: stop it. */
        void stepDown();

        /** One turn of the duties run every period while leading. */
        void turn();
    }

    private final String me;
    private final LeaseStore lease;
    private final Duration leaseTime;
    private final LongSupplier nanoClock;
    private final Duties duties;
    private ScheduledExecutorService ticker;
    private volatile long epoch = -1;
    private volatile long validUntil;

    public HousekeepingLeader(String me, LeaseStore lease, Duration leaseTime, LongSupplier nanoClock, Duties duties) {
        this.me = me;
        this.lease = lease;
        this.leaseTime = leaseTime;
        this.nanoClock = nanoClock;
        this.duties = duties;
    }

    /** Whether this master leads now. */
    public boolean leads() {
        return epoch >= 0;
    }

    /** Takes a turn now and every fifth of a lease on a thread of {@code threads}, until {@link #close()}. */
    public synchronized HousekeepingLeader start(ThreadFactory threads) {
        ticker = Executors.newSingleThreadScheduledExecutor(threads);
        long every = leaseTime.dividedBy(5).toMillis();
        ticker.scheduleWithFixedDelay(() -> {
            try {
                tick();
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "a housekeeping turn failed", e);
            }
        }, 0, every, TimeUnit.MILLISECONDS);
        return this;
    }

    /** One turn: renew or try for the lease, then the duties if leading. Public for tests. */
    public void tick() {
        long before = nanoClock.getAsLong();
        try {
            if (leads()) {
                if (lease.renew(me, epoch, leaseTime)) {
                    validUntil = before + leaseTime.toNanos();
                } else {
                    stepDown("another master took the housekeeping lease");
                    return;
                }
            } else {
                OptionalLong taken = lease.acquire(me, leaseTime);
                if (taken.isEmpty()) {
                    return;
                }
                epoch = taken.getAsLong();
                validUntil = before + leaseTime.toNanos();
                LOG.info("master " + me + " runs the cluster's housekeeping (epoch " + epoch + ")");
                duties.lead();
            }
        } catch (SQLException e) {
            if (leads() && nanoClock.getAsLong() - validUntil >= 0) {
                stepDown("cannot renew the housekeeping lease: " + e.getMessage());
            }
            return;
        }
        duties.turn();
    }

    private void stepDown(String why) {
        epoch = -1;
        LOG.warning("master " + me + " no longer runs the cluster's housekeeping: " + why);
        duties.stepDown();
    }

    /** Stops the turns, and gives the lease up so that another master leads at its next turn. */
    @Override
    public synchronized void close() {
        if (ticker != null) {
            ticker.shutdownNow();
            try {
                ticker.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        long held = epoch;
        if (held >= 0) {
            epoch = -1;
            duties.stepDown();
            try {
                lease.release(me, held);
            } catch (SQLException e) {
                LOG.fine(() -> "the housekeeping lease is given up when it runs out: " + e);
            }
        }
    }
}
