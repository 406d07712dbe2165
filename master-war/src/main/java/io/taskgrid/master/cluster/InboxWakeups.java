package io.taskgrid.master.cluster;

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
        boolean saidFallback = false;
        while (!closed) {
            try (Connection c = dataSource.getConnection()) {
                StringBuilder why = new StringBuilder();
                Listener listener = listen(c, why);
                listening = listener != null;
                if (listener == null && !saidFallback) {
                    saidFallback = true;
                    LOG.info("changes other masters take are looked for every " + fallback.toMillis()
                            + " ms, not listened for: " + why);
                }
                wake();
                long lastLook = System.nanoTime();
                while (!closed) {
                    boolean look;
                    if (listener != null) {
                        // In slices, so that closing never waits for a whole sweep.
                        look = listener.await(SLICE) || System.nanoTime() - lastLook >= sweep.toNanos();
                    } else {
                        Thread.sleep(fallback.toMillis());
                        look = true;
                    }
                    if (look && !closed) {
                        wake();
                        lastLook = System.nanoTime();
                    }
                }
            } catch (InterruptedException e) {
                if (closed) {
                    return;
                }
            } catch (SQLException | RuntimeException e) {
                listening = false;
                if (closed) {
                    return;
                }
                LOG.log(Level.WARNING, "listening for changes other masters take failed (" + e.getMessage()
                        + "); trying again in 1 s", e);
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException interrupted) {
                    return;
                }
            }
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
