package io.taskgrid.master.dispatch;

import io.taskgrid.master.task.Labels;

import java.time.Instant;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * One live agent connection and the attempts it holds. The slot count is the agent's own promise of how many tasks it
 * runs at once; the master never sends more, so no assignment ever waits in a backlog on a busy agent.
 *
 * <p>Once {@link #close() closed} a worker takes nothing more: closing and reserving are ordered by this object's lock,
 * so an attempt is either refused or is among those {@code close()} hands back.
 */
public final class ConnectedWorker {

    private final String id;
    private final String sessionId;
    private final int slots;
    private final Labels labels;
    private final WorkerChannel channel;
    private final Instant connectedAt;
    private volatile Instant lastSeenAt;
    /** task id to attempt id */
    private final Map<String, String> attempts = new LinkedHashMap<>();
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
        if (slots < 1) {
            throw new IllegalArgumentException("slots must be at least 1");
        }
        this.id = id;
        this.sessionId = sessionId;
        this.slots = slots;
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

    public synchronized int running() {
        return attempts.size();
    }

    public synchronized boolean isClosed() {
        return closed;
    }

    /** A free slot, and a stream that takes a message now. */
    public synchronized boolean canTakeTask() {
        return !closed && !draining && attempts.size() < slots && channel.isReady();
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

    /** Takes a slot for the attempt; false when the worker is full or gone. */
    public synchronized boolean reserve(String taskId, String attemptId) {
        if (closed || draining || attempts.size() >= slots) {
            return false;
        }
        attempts.put(taskId, attemptId);
        return true;
    }

    /**
     * Holds an attempt the agent still has from before this connection (running, or finished with its result not yet
     * delivered). Unlike {@link #reserve} it may go past the slot count: the agent has these attempts whatever the
     * count, and the worker simply takes no new task until they are reported.
     */
    public synchronized void claim(String taskId, String attemptId) {
        if (!closed) {
            attempts.put(taskId, attemptId);
        }
    }

    /** Frees the slot of that attempt; false when this worker did not hold it. */
    public synchronized boolean release(String taskId, String attemptId) {
        return attempts.remove(taskId, attemptId);
    }

    public synchronized boolean holds(String taskId, String attemptId) {
        return attemptId.equals(attempts.get(taskId));
    }

    /** Takes no more work from now on; returns the attempts that were in flight on it (task id to attempt id). */
    public synchronized Map<String, String> close() {
        closed = true;
        Map<String, String> inFlight = new LinkedHashMap<>(attempts);
        attempts.clear();
        return inFlight;
    }
}
