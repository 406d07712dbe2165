package io.taskgrid.master.task;

import io.taskgrid.master.config.TaskgridConfig;
import jakarta.annotation.PreDestroy;
import jakarta.annotation.Resource;
import jakarta.enterprise.concurrent.ManagedScheduledExecutorService;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Deletes finished tasks older than {@code taskgrid.retention.days}, with their attempts, output and
 * Idempotency-Keys, so that the database does not grow for ever.
 *
 * <p>Off the hot path on purpose: it runs on a scheduled thread of the server with a connection of its own, not
 * through the group commit. The writer's commits are what every submission and report waits for, and a bulk delete in
 * its queue would make them wait for housekeeping. It may write beside the writer because the two never touch the same
 * rows: only tasks in a final state are deleted, and a final task is out of the dispatcher's memory and never written
 * again. The delete repeats that condition, so a row that is somehow not final is left alone.
 *
 * <p>In batches of {@link #BATCH} tasks, one transaction each, with a short pause between them: a large backlog (the
 * first run after retention is switched on, say) then holds locks and the database's write path for a few
 * milliseconds at a time instead of for one long transaction, and the writer's commits go in between.
 */
@ApplicationScoped
public class Retention {

    private static final Logger LOG = Logger.getLogger(Retention.class.getName());
    static final int BATCH = 500;
    private static final long PAUSE_MILLIS = 20;
    private static final String FINAL_STATES = TaskState.sqlList(TaskState.finished());

    /** Tasks deleted since the start, for /metrics (a count of its own: the task package records into no other). */
    private final LongAdder deletedTotal = new LongAdder();

    @Resource(lookup = "java:comp/env/jdbc/taskgrid", shareable = false)
    DataSource dataSource;

    @Resource(lookup = "java:comp/DefaultManagedScheduledExecutorService")
    ManagedScheduledExecutorService scheduler;

    @Inject
    TaskgridConfig config;

    private ScheduledFuture<?> job;

    /** For CDI. */
    protected Retention() {
    }

    /** For tests: deletes through {@link #deleteFinishedBefore} only, nothing scheduled. */
    public Retention(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    /** Schedules the job (once the schema is migrated); with {@code taskgrid.retention.days} 0, nothing is deleted. */
    public synchronized void start() {
        Duration keep = keep(config.retentionDays());
        if (keep.isZero()) {
            LOG.info("finished tasks are kept forever (taskgrid.retention.days=0)");
            return;
        }
        long every = Math.max(1, config.retentionIntervalSeconds());
        // The first run soon after the start, not an interval later: a master restarted more often than the interval
        // would otherwise never clean up.
        job = scheduler.scheduleWithFixedDelay(this::runSafely, Math.min(every, 60), every, TimeUnit.SECONDS);
        LOG.info(() -> "finished tasks older than " + describe(keep) + " are deleted, checked every " + every + " s");
    }

    /** Finished tasks this master has deleted since it started. */
    public long deletedTotal() {
        return deletedTotal.sum();
    }

    @PreDestroy
    public synchronized void stop() {
        if (job != null) {
            job.cancel(true);
            job = null;
        }
    }

    /** The retention as a duration; zero (keep forever) for 0, a negative or a non-number. */
    static Duration keep(double days) {
        if (!(days > 0)) {
            return Duration.ZERO;
        }
        return Duration.ofMillis(Math.max(1, Math.round(Math.min(days, 1e6) * 86_400_000d)));
    }

    private void runSafely() {
        try {
            deleteFinishedBefore(Task.nowUtc().minus(keep(config.retentionDays())));
        } catch (RuntimeException e) {
            // Tried again at the next interval; a database that is away is the usual reason.
            LOG.log(Level.WARNING, "retention: could not delete old tasks now (" + e.getMessage() + ")", e);
        }
    }

    /**
     * Deletes every task that ended before {@code cutoff} (UTC), batch by batch; logs and counts what it deleted.
     *
     * @return how many tasks were deleted
     */
    public int deleteFinishedBefore(LocalDateTime cutoff) {
        int total = 0;
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            while (true) {
                int deleted = deleteBatch(c, cutoff);
                total += deleted;
                deletedTotal.add(deleted);
                if (deleted < BATCH || Thread.currentThread().isInterrupted()) {
                    break;
                }
                Thread.sleep(PAUSE_MILLIS);
            }
        } catch (SQLException e) {
            throw new IllegalStateException("retention: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            int deletedNow = total;
            if (deletedNow > 0) {
                LOG.info(() -> "retention: deleted " + deletedNow + " task(s) that finished before " + cutoff
                        + " UTC, with their attempts, output and Idempotency-Keys");
            }
        }
        return total;
    }

    private static int deleteBatch(Connection c, LocalDateTime cutoff) throws SQLException {
        List<String> ids = new ArrayList<>(BATCH);
        try (PreparedStatement s = c.prepareStatement("SELECT ID FROM TG_TASK WHERE FINISHED_AT < ? AND STATE IN "
                + FINAL_STATES + " ORDER BY FINISHED_AT FETCH FIRST " + BATCH + " ROWS ONLY")) {
            s.setTimestamp(1, Timestamp.valueOf(cutoff));
            try (ResultSet r = s.executeQuery()) {
                while (r.next()) {
                    ids.add(r.getString(1));
                }
            }
        }
        if (ids.isEmpty()) {
            c.rollback();
            return 0;
        }
        String marks = String.join(", ", Collections.nCopies(ids.size(), "?"));
        try {
            // The children first, explicitly: the foreign keys cascade too, but this does not depend on them.
            delete(c, "DELETE FROM TG_IDEMPOTENCY_KEY WHERE TASK_ID IN (" + marks + ")", ids);
            delete(c, "DELETE FROM TG_ATTEMPT WHERE TASK_ID IN (" + marks + ")", ids);
            delete(c, "DELETE FROM TG_OUTPUT_CHUNK WHERE TASK_ID IN (" + marks + ")", ids);
            int deleted = delete(c, "DELETE FROM TG_TASK WHERE ID IN (" + marks + ") AND STATE IN " + FINAL_STATES,
                    ids);
            c.commit();
            return deleted;
        } catch (SQLException e) {
            c.rollback();
            throw e;
        }
    }

    private static int delete(Connection c, String sql, List<String> ids) throws SQLException {
        try (PreparedStatement s = c.prepareStatement(sql)) {
            for (int i = 0; i < ids.size(); i++) {
                s.setString(i + 1, ids.get(i));
            }
            return s.executeUpdate();
        }
    }

    private static String describe(Duration keep) {
        return keep.toHours() >= 48 ? keep.toDays() + " days" : keep.toSeconds() + " s";
    }
}
