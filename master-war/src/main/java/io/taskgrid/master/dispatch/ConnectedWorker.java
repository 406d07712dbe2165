package io.taskgrid.master.dispatch;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

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
    private final WorkerChannel channel;
    private final Instant connectedAt;
    private volatile Instant lastSeenAt;
    /** task id to attempt id */
    private final Map<String, String> attempts = new LinkedHashMap<>();
    private boolean closed;
    private boolean draining;

    public ConnectedWorker(String id, String sessionId, int slots, WorkerChannel channel, Instant connectedAt) {
        if (slots < 1) {
            throw new IllegalArgumentException("slots must be at least 1");
        }
        this.id = id;
        this.sessionId = sessionId;
        this.slots = slots;
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

    /** Sends this worker nothing more; what it runs now still finishes and reports. */
    public synchronized void drain() {
        draining = true;
    }

    public synchronized boolean isDraining() {
        return draining;
    }

    /** Takes a slot for the attempt; false when the worker is full or gone. */
    public synchronized boolean reserve(String taskId, String attemptId) {
        if (closed || draining || attempts.size() >= slots) {
            return false;
        }
        attempts.put(taskId, attemptId);
        return true;
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
