package io.taskgrid.master.cluster;

import io.taskgrid.master.task.DatabaseFamily;

import javax.sql.DataSource;
import java.lang.reflect.Method;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.ThreadFactory;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Wakes the active master when another master stored a change for it: a task, a cancel or a drain. On PostgreSQL it
 * LISTENs on {@link DatabaseFamily#INBOX_CHANNEL} on a connection of its own, so a change is taken within milliseconds
 * of its commit, and looks anyway every {@code sweep} in case a notification was lost with a connection. Where the
 * driver's notification API cannot be reached (the server keeps the JDBC driver's classes from the application), it
 * looks every {@code fallback} instead and says so once.
 *
 * <p>The driver's API is reached by reflection: the application has no compile-time dependency on a JDBC driver and
 * deploys unchanged where none of PostgreSQL's is present.
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
                Listener listener = listen(c, why);
                if (listener != null) {
                    try {
                        listening = true;
                        listenOn(c, listener);
                    } finally {
                        listening = false;
                        unlisten(c);
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
    private void listenOn(Connection c, Listener listener) throws SQLException, InterruptedException {
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

    /** The connection goes back to the pool: nothing may keep queueing notifications on it. */
    private static void unlisten(Connection c) {
        try (Statement s = c.createStatement()) {
            s.execute("UNLISTEN *");
        } catch (SQLException e) {
            // a broken connection, which the pool drops
        }
    }

    private void wake() {
        try {
            onWake.run();
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "taking the changes other masters stored failed; tried again at the next wake-up", e);
        }
    }

    /** PostgreSQL's notification API on {@code c}, listening; null, and {@code why}, where there is none. */
    private static Listener listen(Connection c, StringBuilder why) throws SQLException {
        if (DatabaseFamily.of(c) != DatabaseFamily.POSTGRESQL) {
            why.append("the database is not PostgreSQL");
            return null;
        }
        Class<?> api = pgConnectionClass();
        if (api == null) {
            why.append("the application cannot see the PostgreSQL driver's classes (on Liberty, server.xml shares "
                    + "them through the webApplication's classloader commonLibraryRef)");
            return null;
        }
        Object pg;
        try {
            pg = c.unwrap(api);
        } catch (SQLException e) {
            why.append("the server's connection does not unwrap to ").append(api.getName()).append(": ")
                    .append(e.getMessage());
            return null;
        }
        Method notifications;
        try {
            notifications = api.getMethod("getNotifications", int.class);
        } catch (NoSuchMethodException e) {
            why.append("the PostgreSQL driver has no getNotifications(int)");
            return null;
        }
        c.setAutoCommit(true);
        try (Statement s = c.createStatement()) {
            s.execute("LISTEN " + DatabaseFamily.INBOX_CHANNEL);
        }
        return new Listener(pg, notifications);
    }

    private static Class<?> pgConnectionClass() {
        for (ClassLoader loader : new ClassLoader[]{Thread.currentThread().getContextClassLoader(),
                InboxWakeups.class.getClassLoader()}) {
            if (loader == null) {
                continue;
            }
            try {
                return Class.forName("org.postgresql.PGConnection", false, loader);
            } catch (ClassNotFoundException | LinkageError e) {
                // the next loader, or none
            }
        }
        return null;
    }

    /** Waits on a listening connection for notifications. */
    private record Listener(Object connection, Method notifications) {
        /** Whether a notification came within {@code atMost}. */
        boolean await(Duration atMost) throws SQLException {
            try {
                Object received = notifications.invoke(connection, (int) Math.max(1, atMost.toMillis()));
                return received instanceof Object[] list && list.length > 0;
            } catch (java.lang.reflect.InvocationTargetException e) {
                if (e.getCause() instanceof SQLException sql) {
                    throw sql;
                }
                throw new SQLException("waiting for notifications failed", e.getCause());
            } catch (IllegalAccessException e) {
                throw new SQLException("the driver's notification API cannot be called", e);
            }
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
