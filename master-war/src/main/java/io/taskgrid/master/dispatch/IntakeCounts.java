package io.taskgrid.master.dispatch;

import io.taskgrid.master.task.TaskState;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * The counts the queue's caps are checked against on a database masters share: the database's unfinished tasks, read
 * at most once every {@link #FRESH} in one pass, plus what this master admitted since. Counting in every submission's
 * own transaction, under a lock every master takes, cost tens of milliseconds per submission with a deep queue and let
 * submissions in one at a time (28 a second from 100,000 queued); this costs one pass a second. The price: the caps
 * hold across the masters up to what the other masters admitted within the last {@link #FRESH}, which docs/operations.md says.
 */
final class IntakeCounts {

    static final Duration FRESH = Duration.ofSeconds(1);

    private final DataSource dataSource;
    private final LongSupplier nanoClock;
    private long readAt;
    private boolean read;
    private long queued;
    private Map<String, Long> unfinishedBy = Map.of();
    private long admittedQueued;
    private final Map<String, Long> admittedBy = new HashMap<>();

    IntakeCounts(DataSource dataSource, LongSupplier nanoClock) {
        this.dataSource = dataSource;
        this.nanoClock = nanoClock;
    }

    /**
     * Admits {@code count} tasks of {@code caller}, or refuses them: over the queue's cap ({@link Dispatcher.QueueFull})
     * or the caller's share ({@link Dispatcher.CallerShareFull}). Admitted tasks count until the next read of the
     * database, which finds them stored; {@link #notStored} takes back ones that were not.
     */
    synchronized void admit(String caller, int count, int queueMax, int callerMax) throws SQLException {
        if (!read || nanoClock.getAsLong() - readAt > FRESH.toNanos()) {
            readCounts();
        }
        long queuedNow = queued + admittedQueued;
        if (queuedNow + count > queueMax) {
            throw new Dispatcher.QueueFull((int) Math.min(Integer.MAX_VALUE, queuedNow));
        }
        long callers = unfinishedBy.getOrDefault(caller, 0L) + admittedBy.getOrDefault(caller, 0L);
        if (callers + count > callerMax) {
            throw new Dispatcher.CallerShareFull((int) Math.min(Integer.MAX_VALUE, callers), callerMax);
        }
        admittedQueued += count;
        admittedBy.merge(caller, (long) count, Long::sum);
    }

    /** Admitted tasks that were not stored (refused by the database, or a repeated Idempotency-Key). */
    synchronized void notStored(String caller, int count) {
        admittedQueued = Math.max(0, admittedQueued - count);
        admittedBy.computeIfPresent(caller, (c, n) -> n <= count ? null : n - count);
    }

    private void readCounts() throws SQLException {
        long now = nanoClock.getAsLong();
        Map<String, Long> by = new HashMap<>();
        long queuedInAll = 0;
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT SUBMITTED_BY, COUNT(*), COALESCE(SUM(CASE WHEN STATE = "
                     + "'QUEUED' THEN 1 ELSE 0 END), 0) FROM TG_TASK WHERE STATE IN "
                     + TaskState.sqlList(TaskState.unfinished()) + " GROUP BY SUBMITTED_BY")) {
            try (ResultSet r = s.executeQuery()) {
                while (r.next()) {
                    by.put(r.getString(1) == null ? "" : r.getString(1), r.getLong(2));
                    queuedInAll += r.getLong(3);
                }
            }
        }
        unfinishedBy = by;
        queued = queuedInAll;
        admittedQueued = 0;
        admittedBy.clear();
        readAt = now;
        read = true;
    }
}
