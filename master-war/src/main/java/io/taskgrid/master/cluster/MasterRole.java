package io.taskgrid.master.cluster;

import io.taskgrid.master.task.DatabaseDriver;
import io.taskgrid.master.task.WriteFence;

import java.sql.SQLException;
import java.time.Duration;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Whether this master hands out work: it does while it holds the dispatch lease, and only then. One master of a
 * database is active; the others stand by, trying for the lease every {@link #period()}, and take over when the
 * active one gives it up or lets it run out (it stopped, died, or lost its database).
 *
 * <p>The active master renews the lease every period. It stops handing out work the moment its last successful
 * renewal is a lease's length old, by its own clock and without waiting for anything (it is {@code SUSPENDED});
 * half a lease later it also lets its agents go ({@code AWAY}), so that they find the master that takes over. A
 * renewal that succeeds again under the same epoch means no one else took over: it carries on. One that finds
 * another holder, or a write the fence refused, ends its turn for good ({@code DEPOSED}): its memory of the tasks is
 * no longer the truth, and only a restart (which makes it a standby) brings it back. The fence, not the clock, is
 * what keeps a paused master from writing over its successor; the clock only keeps it from trying.
 *
 * <p>A master that saw no other master alive within a lease at its last renewal does not let its agents go when its
 * database stops answering: no one can take over, and its agents would only lose their tasks' grace periods.
 * Taking over runs on a thread of its own, so renewals go on while the unfinished tasks load; the master takes
 * changes and dispatches only once that is done.
 */
public final class MasterRole {

    private static final Logger LOG = Logger.getLogger(MasterRole.class.getName());

    /** What the master is doing about the lease. */
    public enum State {
        STARTING, STANDBY, ACTIVE, SUSPENDED, AWAY, DEPOSED, STOPPED
    }

    /** What the rest of the master does when its role changes; called on the lease's thread. */
    public interface Listener {
        /** Took the lease: load the unfinished tasks, serve agents, dispatch. Throwing deposes the master. */
        void becameActive();

        /** The lease may have passed to another master: let the agents go, so they find it. */
        void away();

        /** Renewed under the same epoch after {@link #away()}: serve agents again. */
        void back();

        /** Renewed under the same epoch after a pause in renewals: dispatch again. */
        void resumed();

        /** Another master holds the lease now: stop serving and dispatching, for good. */
        void deposed(String why);
    }

    private final String id;
    private final LeaseStore lease;
    private final Duration leaseTime;
    private final LongSupplier nanoClock;
    private final Listener listener;

    private volatile State state = State.STARTING;
    private volatile String why = "starting";
    private volatile long epoch;
    /** Until when (nanoClock) the last successful renewal lets this master dispatch. */
    private volatile long validUntil;
    private volatile Optional<LeaseStore.Holder> lastSeenHolder = Optional.empty();
    /** Whether taking over is done: the tasks loaded, agents served. Until then nothing is handed out or taken. */
    private volatile boolean serving;
    /** Set by {@link #halt()}: no more turns, no more calls to the listener. */
    private volatile boolean halted;
    /** Whether other masters were alive at the last renewal: only then may one take over from this one. */
    private volatile boolean othersAlive = true;

    private ScheduledExecutorService ticker;
    private ExecutorService database;
    private ExecutorService activation;
    private Future<?> pendingCall;

    public MasterRole(String id, LeaseStore lease, Duration leaseTime, LongSupplier nanoClock, Listener listener) {
        this.id = id;
        this.lease = lease;
        this.leaseTime = leaseTime;
        this.nanoClock = nanoClock;
        this.listener = listener;
    }

    public String id() {
        return id;
    }

    public State state() {
        return state;
    }

    /** Why the master is in its state, in one line for health checks and refusals. */
    public String why() {
        return why;
    }

    /** The lease's holder as last read, for a standby's refusals ("master X is active"). */
    public Optional<LeaseStore.Holder> lastSeenHolder() {
        return lastSeenHolder;
    }

    /** How often the lease is renewed, or tried for: a fifth of its length. */
    public Duration period() {
        return leaseTime.dividedBy(5);
    }

    /** Whether this master may hand out work now: active, and its last renewal less than a lease ago. */
    public boolean mayDispatch() {
        return state == State.ACTIVE && serving && nanoClock.getAsLong() - validUntil < 0;
    }

    /** The fence for the writer: only this epoch of this master commits. */
    public WriteFence fence() {
        return lease.fence(id, epoch);
    }

    /**
     * The first turn, on the starting thread: takes the lease if it can (then this returns with the master active),
     * otherwise stands by. A database of a family that serves one master only ({@link DatabaseDriver#H2}) is taken
     * over regardless of what it records: only one process can open it, so a lease still recorded there is the
     * remnant of this master's own previous process.
     *
     * @throws IllegalStateException when the database cannot be asked
     */
    public void join() {
        try {
            lease.seen(id, State.STARTING.name());
            long now = nanoClock.getAsLong();
            OptionalLong taken = lease.driver().allowsSeveralMasters() ? lease.acquire(id, leaseTime)
                    : OptionalLong.of(lease.takeOver(id, leaseTime));
            if (taken.isPresent()) {
                activate(taken.getAsLong(), now, false);
            } else {
                standBy();
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read the dispatch lease: " + e.getMessage(), e);
        }
    }

    /** Takes turns every {@link #period()} on threads of {@code threads}, until {@link #stop()}. */
    public synchronized void start(ThreadFactory threads) {
        ticker = Executors.newSingleThreadScheduledExecutor(threads);
        database = Executors.newSingleThreadExecutor(threads);
        activation = Executors.newSingleThreadExecutor(threads);
        long every = period().toMillis();
        ticker.scheduleWithFixedDelay(this::tickSafely, every, every, TimeUnit.MILLISECONDS);
    }

    private void tickSafely() {
        try {
            tick();
        } catch (RuntimeException e) {
            LOG.log(Level.SEVERE, "the dispatch lease's turn failed", e);
        }
    }

    /**
     * One turn: a standby tries for the lease; an active master renews it, or finds out it can no longer count on
     * it. Public for tests, which take turns themselves.
     */
    public void tick() {
        State now = state;
        if (halted || now == State.STOPPED || now == State.DEPOSED) {
            return;
        }
        long before = nanoClock.getAsLong();
        if (now == State.STANDBY || now == State.STARTING) {
            Optional<OptionalLong> taken = ask(() -> {
                seen(State.STANDBY);
                OptionalLong epochTaken = lease.acquire(id, leaseTime);
                if (epochTaken.isEmpty()) {
                    lastSeenHolder = lease.holder();
                    if (state == State.STANDBY) {
                        // Another standby may have taken over from the master named before: say who holds it now.
                        why = standingBy(lastSeenHolder.map(LeaseStore.Holder::id).orElse("another master"));
                    }
                }
                return epochTaken;
            });
            if (taken.isPresent() && taken.get().isPresent()) {
                activate(taken.get().getAsLong(), before, true);
            }
            return;
        }
        long heldEpoch = epoch;
        Optional<Boolean> renewed = ask(() -> {
            boolean held = lease.renew(id, heldEpoch, leaseTime);
            if (held) {
                // Taken as soon as the database answers, even after this turn stopped waiting: it did renew.
                renewedAt(before);
                seen(State.ACTIVE);
                othersAlive = othersAlive();
            } else {
                lastSeenHolder = lease.holder();
            }
            return held;
        });
        if (renewed.isPresent() && !renewed.get()) {
            depose(lastSeenHolder.map(holder -> "master " + holder.id() + " holds the dispatch lease now; this "
                    + "master's turn ended (restart it to stand by)").orElse("this master's lease ran out and was "
                    + "taken from it: another master took over its tasks (restart it to take part again)"));
        } else if (renewed.isEmpty()) {
            overdue(nanoClock.getAsLong());
        }
    }

    /** Records this master as alive; a failure here says nothing about the lease. */
    private void seen(State as) {
        try {
            lease.seen(id, as.name());
        } catch (SQLException e) {
            LOG.fine(() -> "cannot record master " + id + " as " + as + ": " + e);
        }
    }

    private boolean othersAlive() {
        try {
            return lease.othersSeenWithin(id, leaseTime.multipliedBy(2)) > 0;
        } catch (SQLException e) {
            return true;
        }
    }

    /** The writer's fence refused a write: another master holds the lease. */
    public void fencedOff(String reason) {
        depose(reason + " (restart this master to stand by)");
    }

    /**
     * Takes no more turns and calls the listener no more: the first step of the master's stop, before it stops what
     * the listener started. The lease stays held until {@link #stop()}.
     */
    public void halt() {
        synchronized (this) {
            halted = true;
            if (ticker != null) {
                ticker.shutdownNow();
                database.shutdownNow();
                activation.shutdownNow();
            }
        }
    }

    /** Gives the lease up on the way out, so that a standby takes over at its next turn. */
    public void stop() {
        halt();
        State was;
        synchronized (this) {
            was = state;
            state = State.STOPPED;
            why = "stopped";
        }
        if (was == State.ACTIVE || was == State.SUSPENDED || was == State.AWAY) {
            try {
                lease.release(id, epoch);
                LOG.info("master " + id + " gave up the dispatch lease");
            } catch (SQLException e) {
                LOG.warning("master " + id + " could not give up the dispatch lease (a standby takes it once it "
                        + "runs out): " + e.getMessage());
            }
        }
    }

    private void activate(long newEpoch, long renewedAt, boolean inBackground) {
        synchronized (this) {
            if (halted || state == State.DEPOSED || state == State.STOPPED) {
                return;
            }
            epoch = newEpoch;
            validUntil = renewedAt + leaseTime.toNanos();
            state = State.ACTIVE;
            serving = false;
            why = "taking over: loading the unfinished tasks (epoch " + newEpoch + ")";
        }
        LOG.info("master " + id + " holds the dispatch lease (epoch " + newEpoch + "): taking over");
        if (!inBackground || activation == null) {
            // At start, or turns taken by a test: here and now.
            takeOver(newEpoch);
            return;
        }
        // Renewals go on meanwhile: loading a long queue may take longer than a lease.
        activation.execute(() -> {
            try {
                takeOver(newEpoch);
            } catch (RuntimeException e) {
                LOG.log(Level.SEVERE, "master " + id + " could not take over", e);
            }
        });
    }

    private void takeOver(long newEpoch) {
        try {
            listener.becameActive();
        } catch (RuntimeException e) {
            depose("taking over failed: " + e.getMessage());
            throw e;
        }
        synchronized (this) {
            if (state != State.ACTIVE || epoch != newEpoch) {
                return;
            }
            serving = true;
            why = "holds the dispatch lease (epoch " + newEpoch + ")";
        }
        LOG.info("master " + id + " is active: it holds the dispatch lease (epoch " + newEpoch + ")");
        listener.resumed();
    }

    private void standBy() {
        state = State.STANDBY;
        String holder = lastSeenHolder.map(LeaseStore.Holder::id).orElse("another master");
        try {
            lastSeenHolder = lease.holder();
            holder = lastSeenHolder.map(LeaseStore.Holder::id).orElse(holder);
        } catch (SQLException e) {
            LOG.fine(() -> "cannot read the lease's holder: " + e);
        }
        why = standingBy(holder);
        LOG.info("master " + id + " " + why + "; it takes over when that master stops or its lease runs out");
    }

    private static String standingBy(String holder) {
        return "stands by: master " + holder + " holds the dispatch lease";
    }

    private void renewedAt(long before) {
        State was;
        boolean lapsed;
        synchronized (this) {
            was = state;
            if (halted || was == State.DEPOSED || was == State.STOPPED) {
                return;
            }
            lapsed = nanoClock.getAsLong() - validUntil >= 0;
            if (before + leaseTime.toNanos() - validUntil > 0) {
                validUntil = before + leaseTime.toNanos();
            }
            state = State.ACTIVE;
            if (serving) {
                why = "holds the dispatch lease (epoch " + epoch + ")";
            }
        }
        if (was == State.AWAY) {
            LOG.warning("master " + id + " reached its database again and still holds the lease: serving agents again");
            listener.back();
        }
        if (was != State.ACTIVE) {
            LOG.warning("master " + id + " renewed its dispatch lease again: dispatching again");
        }
        if ((was != State.ACTIVE || lapsed) && serving) {
            // Passes while the lease had lapsed handed out nothing: one now, for what waits.
            listener.resumed();
        }
    }

    private void overdue(long now) {
        long late = now - validUntil;
        if (late < 0) {
            return;
        }
        State was = state;
        if (late >= leaseTime.toNanos() / 2 && was != State.AWAY && othersAlive) {
            synchronized (this) {
                if (halted || state == State.DEPOSED || state == State.STOPPED) {
                    return;
                }
                state = State.AWAY;
                why = "cannot renew its dispatch lease (the database does not answer): not dispatching, agents sent "
                        + "to other masters";
            }
            LOG.severe("master " + id + " " + why);
            listener.away();
        } else if (was == State.ACTIVE) {
            synchronized (this) {
                if (state != State.ACTIVE) {
                    return;
                }
                state = State.SUSPENDED;
                why = "cannot renew its dispatch lease (the database does not answer): not dispatching"
                        + (othersAlive ? "" : "; no other master was alive, so its agents stay");
            }
            LOG.severe("master " + id + " " + why);
        }
    }

    private void depose(String reason) {
        boolean tell;
        synchronized (this) {
            if (state == State.DEPOSED || state == State.STOPPED) {
                return;
            }
            state = State.DEPOSED;
            serving = false;
            why = reason;
            tell = !halted;
        }
        LOG.severe("master " + id + ": " + reason);
        if (tell) {
            listener.deposed(reason);
        }
    }

    private interface DatabaseCall<T> {
        T call() throws SQLException;
    }

    /**
     * One call to the database, waited for at most a period: a database host that drops packets may hold a
     * connection attempt far longer, and the turns must go on (the clock decides without it). A call still out is not
     * repeated; its late answer is dropped, and the next turn asks again.
     */
    private <T> Optional<T> ask(DatabaseCall<T> call) {
        if (database == null) {
            try {
                return Optional.of(call.call());
            } catch (SQLException e) {
                LOG.fine(() -> "dispatch lease: " + e);
                return Optional.empty();
            }
        }
        Future<T> future;
        synchronized (this) {
            if (pendingCall != null && !pendingCall.isDone()) {
                return Optional.empty();
            }
            future = database.submit(call::call);
            pendingCall = future;
        }
        try {
            return Optional.of(future.get(period().toMillis(), TimeUnit.MILLISECONDS));
        } catch (TimeoutException e) {
            return Optional.empty();
        } catch (ExecutionException e) {
            LOG.fine(() -> "dispatch lease: " + e.getCause());
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }
}
