package io.taskgrid.master.cluster;

import io.taskgrid.master.task.DatabaseDriver;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ThreadFactory;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Wakes this master when another master stored a change for it: a task, a cancel or a drain. Where the database
 * pushes announcements ({@link DatabaseDriver#listen}: PostgreSQL's LISTEN) it listens on a connection of its own, so
 * a change is taken within milliseconds of its commit, and looks anyway every {@code sweep} in case a notification was
 * lost with a connection. Where it cannot (H2, or a server that keeps the JDBC driver's classes from the application),
 * it looks every {@code fallback} instead and says why once.
 */
public final class InboxWakeups implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(InboxWakeups.class.getName());

    /** The longest one wait on the listening connection lasts: closing takes at most this long. */
    private static final Duration SLICE = Duration.ofMillis(500);

    private final DataSource dataSource;
    private final Duration sweep;
    private final Duration fallback;
    private final Runnable onWake;
    private final Thread thread;
    private volatile boolean closed;
    private volatile boolean listening;

    public InboxWakeups(DataSource dataSource, Duration sweep, Duration fallback, Runnable onWake,
                        ThreadFactory threads) {
        this.dataSource = dataSource;
        this.sweep = sweep;
        this.fallback = fallback;
        this.onWake = onWake;
        this.thread = threads.newThread(this::run);
        this.thread.setName("taskgrid-inbox");
        this.thread.setDaemon(true);
    }

    public InboxWakeups start() {
        thread.start();
        return this;
    }

    /** Whether changes wake this master at once (LISTEN), rather than at the next look. */
    public boolean listening() {
        return listening;
    }

    private void run() {
        while (!closed) {
            StringBuilder why = new StringBuilder();
            try (Connection c = dataSource.getConnection()) {
                Optional<DatabaseDriver.Notifications> listener = DatabaseDriver.of(c).listen(c, why);
                if (listener.isPresent()) {
                    try {
                        listening = true;
                        listenOn(c, listener.get());
                    } finally {
                        listening = false;
                        listener.get().stop();
                    }
                }
            } catch (InterruptedException e) {
                return;
            } catch (SQLException | RuntimeException e) {
                if (closed) {
                    return;
                }
                LOG.log(Level.WARNING, "listening for changes other masters take failed (" + e.getMessage()
                        + "); trying again in 1 s", e);
                if (!pause(1000)) {
                    return;
                }
                continue;
            }
            if (!closed && why.length() > 0) {
                // No LISTEN here, ever: look every fallback, holding no connection in between.
                LOG.info("changes other masters take are looked for every " + fallback.toMillis()
                        + " ms, not listened for: " + why);
                poll();
                return;
            }
        }
    }

    /** Wakes at each notification, and every sweep; checks the connection at each sweep, so a dead one is replaced. */
    private void listenOn(Connection c, DatabaseDriver.Notifications listener) throws SQLException, InterruptedException {
        wake();
        long lastLook = System.nanoTime();
        while (!closed) {
            // In slices, so that closing never waits for a whole sweep.
            boolean notified = listener.await(SLICE);
            boolean sweep = System.nanoTime() - lastLook >= this.sweep.toNanos();
            if (sweep) {
                try (Statement s = c.createStatement()) {
                    s.execute("SELECT 1");
                }
            }
            if ((notified || sweep) && !closed) {
                wake();
                lastLook = System.nanoTime();
            }
        }
    }

    private void poll() {
        while (!closed) {
            wake();
            if (!pause(fallback.toMillis())) {
                return;
            }
        }
    }

    private static boolean pause(long millis) {
        try {
            Thread.sleep(millis);
            return true;
        } catch (InterruptedException e) {
            return false;
        }
    }

    private void wake() {
        try {
            onWake.run();
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "taking the changes other masters stored failed; tried again at the next wake-up", e);
        }
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
        try {
            thread.join(SLICE.toMillis() + fallback.toMillis() + 2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
