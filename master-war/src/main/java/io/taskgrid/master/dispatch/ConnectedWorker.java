package io.taskgrid.master.dispatch;

import io.taskgrid.master.task.Labels;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * One live agent connection and the attempts it holds. The slot count is the agent's own promise of how many tasks it
 * runs at once; the master never sends more, so no assignment ever waits in a backlog on a busy agent.
 *
 * <p>Once {@link #close() closed} a worker takes nothing more: closing and reserving are ordered by this object's lock,
 * so an attempt is either refused or is among those {@code close()} hands back.
 *
 * <p>An agent speaks only for its own session: this object is one session (one AssignTask stream), and what it
 * {@link #holds} is what it may report, finish or stream output of. An attempt it claimed when it registered is
 * {@link Held#CLAIMED} until the dispatcher has looked at it ({@link #claimChecked}): then it is held if it is still its
 * task's current attempt, else {@link Held#STALE} (its slot stays taken until the agent reports it; the report changes
 * nothing). Another session of the same worker id, later, holds only what it claims in turn.
 */
public final class ConnectedWorker {

    private final String id;
    private final String sessionId;
    private final int slots;
    /** Assignments it holds beyond its slots, unstarted, to start the moment a slot frees. */
    private final int prefetch;
    private final Labels labels;
    private final WorkerChannel channel;
    private final Instant connectedAt;
    private volatile Instant lastSeenAt;
    /**
     * The attempts that take a slot of this worker, by task id: handed to it on this connection, or claimed when it
     * registered. Only the one {@link Held#HELD held} now may be reported, or its output taken, from this connection.
     */
    private final Map<String, Holding> attempts = new LinkedHashMap<>();
    private boolean closed;
    private boolean draining;
    private String drainReason;
    private String drainedBy;
    private int refusedInARow;
    private int refusedTotal;
    /** Attempts of other workers this connection tried to report or claim; each is logged once. */
    private final Set<String> foreignAttemptsSeen = new HashSet<>();

    public ConnectedWorker(String id, String sessionId, int slots, Labels labels, WorkerChannel channel,
                           Instant connectedAt) {
        this(id, sessionId, slots, 0, labels, channel, connectedAt);
    }

    public ConnectedWorker(String id, String sessionId, int slots, int prefetch, Labels labels, WorkerChannel channel,
                           Instant connectedAt) {
        if (slots < 1) {
            throw new IllegalArgumentException("slots must be at least 1");
        }
        if (prefetch < 0) {
            throw new IllegalArgumentException("prefetch must not be negative");
        }
        this.id = id;
        this.sessionId = sessionId;
        this.slots = slots;
        this.prefetch = prefetch;
        this.labels = labels == null ? Labels.NONE : labels;
        this.channel = channel;
        this.connectedAt = connectedAt;
        this.lastSeenAt = connectedAt;
    }

    public String id() {
        return id;
    }

    /** Whether this connection was opened by the agent session that names itself {@code sessionId}. */
    public boolean isSession(String sessionId) {
        return this.sessionId != null && !this.sessionId.isEmpty() && this.sessionId.equals(sessionId);
    }

    public int slots() {
        return slots;
    }

    /** What the agent said it offers ({@code --label}); tasks that require labels go only where they all match. */
    public Labels labels() {
        return labels;
    }

    public WorkerChannel channel() {
        return channel;
    }

    public Instant connectedAt() {
        return connectedAt;
    }

    public Instant lastSeenAt() {
        return lastSeenAt;
    }

    public void seen(Instant when) {
        lastSeenAt = when;
    }

    /** The attempts taking a slot: held, claimed, or stale until reported. */
    public synchronized int running() {
        return attempts.size();
    }

    public synchronized boolean isClosed() {
        return closed;
    }

    public int prefetch() {
        return prefetch;
    }

    /** Room for another assignment (a free slot, or room to prefetch), and a stream that takes a message now. */
    public synchronized boolean canTakeTask() {
        return !closed && !draining && attempts.size() < slots + prefetch && channel.isReady();
    }

    /**
     * Fewer attempts than slots: the next assignment starts at once. One that is only prefetched waits for a slot,
     * so dispatch gives those out only when no worker with a free slot may run the task.
     */
    public synchronized boolean hasFreeSlot() {
        return attempts.size() < slots;
    }

    /** Sends this worker nothing more; what it runs now still finishes and reports. The first reason given stays. */
    public synchronized void drain(String why) {
        drain(why, null);
    }

    /**
     * Like {@link #drain(String)}, asked for by an API caller, whose name is kept beside the reason.
     *
     * @return whether this call drained the worker (false when it was draining already, and the first stays)
     */
    public synchronized boolean drain(String why, String by) {
        if (draining) {
            return false;
        }
        draining = true;
        drainReason = why;
        drainedBy = by;
        return true;
    }

    /** The API caller who drained this worker; null when none did (it is not draining, or drained itself). */
    public synchronized String drainedBy() {
        return drainedBy;
    }

    public synchronized boolean isDraining() {
        return draining;
    }

    /** Why no task goes to this worker any more; null while it takes tasks. */
    public synchronized String drainReason() {
        return drainReason;
    }

    /**
     * The agent handed an attempt back without starting it. A worker that hands back {@code limit} in a row, without
     * running one in between, is drained: an agent that takes tasks only to refuse them (broken, or a client holding a
     * join token that is not an agent) would otherwise keep every task it is given circling.
     *
     * @return true when this refusal drained the worker
     */
    public synchronized boolean refused(int limit) {
        refusedTotal++;
        refusedInARow++;
        if (!draining && refusedInARow >= limit) {
            drain("handed back " + refusedInARow + " tasks in a row without running one");
            return true;
        }
        return false;
    }

    /** The agent ran an attempt: the count of refusals in a row starts again. */
    public synchronized void ran() {
        refusedInARow = 0;
    }

    public synchronized int refusedTotal() {
        return refusedTotal;
    }

    /** True the first time this connection names a given attempt of another worker, so that it is logged once. */
    public synchronized boolean firstForeignAttempt(String attemptId) {
        return foreignAttemptsSeen.size() < 1000 && foreignAttemptsSeen.add(attemptId);
    }

    /** Takes a slot (or prefetch room) for the attempt; false when the worker is full or gone. */
    public synchronized boolean reserve(String taskId, String attemptId) {
        if (closed || draining || attempts.size() >= slots + prefetch) {
            return false;
        }
        attempts.put(taskId, new Holding(attemptId, Held.HELD));
        return true;
    }

    /**
     * Takes a slot for an attempt the agent still has from before this connection (running, or finished with its
     * result not yet delivered), {@link Held#CLAIMED} until the dispatcher has checked it ({@link #claimChecked}).
     * Unlike {@link #reserve} it may go past the slot count: the agent has these attempts whatever the count, and the
     * worker simply takes no new task until they are reported.
     */
    public synchronized void claim(String taskId, String attemptId) {
        if (!closed) {
            attempts.put(taskId, new Holding(attemptId, Held.CLAIMED));
        }
    }

    /**
     * The dispatcher looked at a claimed attempt: {@code current} (still its task's attempt in flight) makes it held by
     * this session; otherwise it stays only as a taken slot until the agent reports it.
     */
    public synchronized void claimChecked(String taskId, String attemptId, boolean current) {
        Holding holding = attempts.get(taskId);
        if (holding != null && holding.attemptId.equals(attemptId) && holding.state == Held.CLAIMED) {
            holding.state = current ? Held.HELD : Held.STALE;
        }
    }

    /**
     * Frees the slot of an attempt this session holds now.
     *
     * @return false when it did not hold it (never did, or it is claimed, stale or released already), and nothing changed
     */
    public synchronized boolean release(String taskId, String attemptId) {
        Holding holding = attempts.get(taskId);
        if (holding == null || !holding.attemptId.equals(attemptId) || holding.state != Held.HELD) {
            return false;
        }
        attempts.remove(taskId);
        holding.outputClosed = true;
        return true;
    }

    /**
     * Frees the slot a stale claim took: the agent reported the attempt, so it no longer runs it.
     *
     * @return false when the attempt is not a stale claim of this session
     */
    public synchronized boolean releaseStale(String taskId, String attemptId) {
        Holding holding = attempts.get(taskId);
        if (holding == null || !holding.attemptId.equals(attemptId) || holding.state != Held.STALE) {
            return false;
        }
        attempts.remove(taskId);
        return true;
    }

    /**
     * The attempts most likely held prefetched and unstarted, newest first, that have not been asked back yet: those
     * beyond the first {@code slots} handed out (the agent starts its assignments in the order they came). The agent
     * may have started one meanwhile; asked back, it then simply runs on.
     */
    public synchronized List<Map.Entry<String, String>> askableBack() {
        List<Map.Entry<String, String>> beyond = new ArrayList<>();
        int position = 0;
        for (Map.Entry<String, Holding> entry : attempts.entrySet()) {
            Holding holding = entry.getValue();
            if (position++ >= slots && holding.state == Held.HELD && !holding.askedBack) {
                beyond.add(Map.entry(entry.getKey(), holding.attemptId));
            }
        }
        Collections.reverse(beyond);
        return beyond;
    }

    /** Marks the attempt as asked back; false when this session does not hold it (any more) or asked already. */
    public synchronized boolean askBack(String taskId, String attemptId) {
        Holding holding = attempts.get(taskId);
        if (holding == null || !holding.attemptId.equals(attemptId) || holding.state != Held.HELD
                || holding.askedBack) {
            return false;
        }
        holding.askedBack = true;
        return true;
    }

    /** Whether the master asked for the attempt back: handing it back unstarted is then no refusal. */
    public synchronized boolean wasAskedBack(String taskId, String attemptId) {
        Holding holding = attempts.get(taskId);
        return holding != null && holding.attemptId.equals(attemptId) && holding.askedBack;
    }

    /** Whether this session holds the attempt now: it may report it and stream its output. */
    public synchronized boolean holds(String taskId, String attemptId) {
        return is(taskId, attemptId, Held.HELD);
    }

    /** Whether this session claimed the attempt when it registered but the attempt was no longer current. */
    public synchronized boolean holdsStale(String taskId, String attemptId) {
        return is(taskId, attemptId, Held.STALE);
    }

    /**
     * Whether the attempt is this worker's for the dispatcher: held, or claimed and not yet checked (so that its grace
     * period does not run out between a reconnect and the dispatcher's look at the claim).
     */
    public synchronized boolean keeps(String taskId, String attemptId) {
        return is(taskId, attemptId, Held.HELD) || is(taskId, attemptId, Held.CLAIMED);
    }

    private boolean is(String taskId, String attemptId, Held state) {
        Holding holding = attempts.get(taskId);
        return holding != null && holding.attemptId.equals(attemptId) && holding.state == state;
    }

    /**
     * A chunk of the attempt's output is about to be stored: while this session holds the attempt and its output is
     * open, the action to run once the chunk is in the writer's queue (a final report waits for it, see
     * {@link #closeOutput}); empty otherwise, and the chunk must not be stored.
     */
    public synchronized Optional<Runnable> beginAppend(String taskId, String attemptId) {
        Holding holding = attempts.get(taskId);
        if (holding == null || !holding.attemptId.equals(attemptId) || holding.state != Held.HELD
                || holding.outputClosed) {
            return Optional.empty();
        }
        holding.appending++;
        return Optional.of(() -> {
            CompletableFuture<Void> drained;
            synchronized (this) {
                drained = holding.appended();
            }
            // Outside the lock: what waits for it stores the report's output and must not hold up the dispatcher.
            if (drained != null) {
                drained.complete(null);
            }
        });
    }

    /**
     * No chunk of the attempt's output is taken from now on: its final report is being handled. The future completes
     * once every chunk taken before is in the writer's queue, ahead of what the report writes; empty when this session
     * does not hold the attempt (any more).
     */
    public synchronized Optional<CompletableFuture<Void>> closeOutput(String taskId, String attemptId) {
        Holding holding = attempts.get(taskId);
        if (holding == null || !holding.attemptId.equals(attemptId) || holding.state != Held.HELD) {
            return Optional.empty();
        }
        holding.outputClosed = true;
        if (holding.outputDrained == null) {
            // Completed now only when nothing waits for it yet; else by the last chunk on its way in.
            holding.outputDrained = holding.appending == 0 ? CompletableFuture.completedFuture(null)
                    : new CompletableFuture<>();
        }
        return Optional.of(holding.outputDrained);
    }

    /** Takes no more work from now on; returns the attempts that were in flight on it (task id to attempt id). */
    public synchronized Map<String, String> close() {
        closed = true;
        Map<String, String> inFlight = new LinkedHashMap<>();
        attempts.forEach((taskId, holding) -> {
            holding.outputClosed = true;
            if (holding.state != Held.STALE) {
                inFlight.put(taskId, holding.attemptId);
            }
        });
        attempts.clear();
        return inFlight;
    }

    /** How this session has an attempt. */
    enum Held {
        /** Handed to this session, or claimed and found current: it may report it and stream its output. */
        HELD,
        /** Claimed when it registered; the dispatcher has not looked yet. It may not report it yet. */
        CLAIMED,
        /** Claimed, but no longer its task's current attempt: a slot until reported, and nothing more. */
        STALE
    }

    /** One attempt taking a slot; guarded by the worker's lock. */
    private static final class Holding {
        final String attemptId;
        Held state;
        /** Chunks of its output between {@link #beginAppend} and the end of their way into the writer's queue. */
        int appending;
        boolean outputClosed;
        /** The master asked for it back (it seemed prefetched while another worker was idle). */
        boolean askedBack;
        CompletableFuture<Void> outputDrained;

        Holding(String attemptId, Held state) {
            this.attemptId = attemptId;
            this.state = state;
        }

        /** One chunk is in the writer's queue; the future to complete (outside the lock) when it was the last. */
        CompletableFuture<Void> appended() {
            appending--;
            return appending == 0 && outputDrained != null && !outputDrained.isDone() ? outputDrained : null;
        }
    }
}
