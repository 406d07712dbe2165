package io.taskgrid.master.cluster;

import io.taskgrid.master.task.DatabaseDriver;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.concurrent.ThreadFactory;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Tells the other masters that changes wait ({@link DatabaseDriver#announce}), once per burst and after the changes
 * committed, rather than inside each change's transaction. On PostgreSQL a transaction that NOTIFYs takes one lock for
 * the whole cluster at its commit and keeps it through the commit's flush to disk, so submissions that each NOTIFY
 * commit one after another, a flush each. Announced from here, they commit side by side, and one announcement covers
 * every change committed before it is sent: a change is never left unannounced, only announced a few milliseconds
 * later. Should an announcement fail, the masters' periodic look finds the change.
 */
public final class ChangeAnnouncer implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(ChangeAnnouncer.class.getName());

    private final DataSource dataSource;
    private final Thread thread;
    private boolean asked;
    private boolean closed;
    private long failedAt;

    public ChangeAnnouncer(DataSource dataSource, ThreadFactory threads) {
        this.dataSource = dataSource;
        this.thread = threads.newThread(this::run);
        this.thread.setName("taskgrid-announcer");
        this.thread.setDaemon(true);
    }

    public ChangeAnnouncer start() {
        thread.start();
        return this;
    }

    /** Asks for an announcement of what has committed up to now. Never waits for the database. */
    public synchronized void announce() {
        asked = true;
        notifyAll();
    }

    private void run() {
        while (true) {
            synchronized (this) {
                while (!asked && !closed) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                if (closed) {
                    return;
                }
                // Cleared before sending: what commits from here on asks again, and is covered by the next one.
                asked = false;
            }
            send();
        }
    }

    private void send() {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            DatabaseDriver.of(c).announce(c);
        } catch (SQLException | RuntimeException e) {
            long now = System.nanoTime();
            if (failedAt == 0 || now - failedAt > 60_000_000_000L) {
                failedAt = now;
                LOG.log(Level.WARNING, "telling the other masters of new changes failed (" + e.getMessage()
                        + "); they find them at their next look", e);
            }
        }
    }

    @Override
    public void close() {
        synchronized (this) {
            closed = true;
            notifyAll();
        }
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
