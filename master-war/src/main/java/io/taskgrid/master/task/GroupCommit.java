package io.taskgrid.master.task;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.SQLRecoverableException;
import java.sql.SQLTransientException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The one writer: changes from every request, report and dispatch are queued here and written together, one
 * transaction for whatever arrived while the previous one was being committed. Each change's future completes once the
 * transaction holding it has committed, and only then does anything outside hear of it (a 202, a report's ack, an
 * assignment on a worker's stream). Under load a commit carries hundreds of changes; when idle, one; there is no timer.
 * Successive changes of one task in one transaction become one write.
 *
 * <p>When the database fails a transaction, the writer tells apart a database that is away (it keeps the changes and
 * tries again, with backoff, in order, for as long as it takes) from a change the database refuses (it writes the
 * changes one by one, and fails only the refused ones).
 */
public final class GroupCommit implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(GroupCommit.class.getName());
    /** Changes per transaction at most: bounds the time one commit holds its locks. */
    static final int MAX_BATCH = 1000;

    /**
     * A change and its future. {@code whole}: a mark shared by the changes of a group that is stored all or none (a
     * batch submission); null for a change that may fail alone.
     */
    private record Pending(Rows.Change change, CompletableFuture<Void> done, Object whole) {
    }

    /** Groups of changes: a group is always written in one transaction (unless one of it is refused). */
    private final BlockingQueue<List<Pending>> queue = new LinkedBlockingQueue<>();
    private final Thread thread;
    private volatile boolean closed;
    private volatile long unavailableSince;
    private volatile long commits;
    private volatile long changes;
    private final WriterConnection connection;
    private volatile WriteFence fence = WriteFence.NONE;
    /**
     * The master the tasks this writer inserts belong to. Until a fence names it (tests of the store alone), a name no
     * master can have: the next master to start on the database takes those tasks over.
     */
    private volatile String owner = UNNAMED_OWNER;
    private volatile java.util.function.Consumer<String> fencedOff = reason -> {
    };

    public GroupCommit(DataSource dataSource, ThreadFactory threads) {
        this.connection = new WriterConnection(dataSource);
        this.thread = threads.newThread(this::run);
        this.thread.setName("taskgrid-group-commit");
        this.thread.start();
    }

    /** Queues a change; the future completes when it is committed, or exceptionally if the database refused it. */
    CompletableFuture<Void> write(Rows.Change change) {
        return write(List.of(change)).get(0);
    }

    /**
     * Queues changes to be committed together (a result and the assignment that follows it, say); one future each.
     * A change the database refuses fails alone.
     */
    List<CompletableFuture<Void>> write(List<Rows.Change> changes) {
        return enqueue(changes, false);
    }

    /**
     * Queues changes that are stored all or none: written in one transaction, and if the database refuses any of them,
     * none is written and every future fails. One future each, completing together.
     */
    List<CompletableFuture<Void>> writeWhole(List<Rows.Change> changes) {
        return enqueue(changes, true);
    }

    private List<CompletableFuture<Void>> enqueue(List<Rows.Change> changes, boolean whole) {
        List<Pending> group = new ArrayList<>(changes.size());
        Object unit = whole ? new Object() : null;
        for (Rows.Change change : changes) {
            group.add(new Pending(change, new CompletableFuture<>(), unit));
        }
        if (closed) {
            group.forEach(p -> p.done().completeExceptionally(new IllegalStateException("the master is stopping")));
        } else if (!group.isEmpty()) {
            queue.add(group);
        }
        return group.stream().map(Pending::done).toList();
    }

    /** Since when (System.nanoTime) the database has not taken a commit; 0 while it does. */
    public long unavailableSince() {
        return unavailableSince;
    }

    public long commits() {
        return commits;
    }

    public long changes() {
        return changes;
    }

    /** Changes waiting to be written. */
    public int backlog() {
        return queue.stream().mapToInt(List::size).sum();
    }

    private void run() {
        List<Pending> batch = new ArrayList<>();
        while (!closed || !queue.isEmpty()) {
            try {
                List<Pending> first = queue.poll(200, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                batch.addAll(first);
                List<Pending> next;
                while (batch.size() < MAX_BATCH && (next = queue.poll()) != null) {
                    batch.addAll(next);
                }
                commit(batch);
            } catch (InterruptedException e) {
                if (closed) {
                    break;
                }
            } catch (RuntimeException e) {
                LOG.log(Level.SEVERE, "the group commit failed unexpectedly", e);
                batch.forEach(p -> p.done().completeExceptionally(e));
            }
            batch.clear();
        }
        connection.close();
    }

    @SuppressWarnings("NonAtomicVolatileUpdate") // only this writer's thread updates the counters
    private void commit(List<Pending> batch) throws InterruptedException {
        long backoff = 50;
        while (true) {
            try {
                writeAll(batch.stream().map(Pending::change).toList());
                unavailableSince = 0;
                commits++;
                changes += batch.size();
                batch.forEach(p -> p.done().complete(null));
                return;
            } catch (WriteFence.FencedOff e) {
                connection.rollback();
                LOG.severe("nothing written: " + e.getMessage());
                // The master steps down before anyone hears that a change failed.
                fencedOff.accept(e.getMessage());
                batch.forEach(p -> p.done().completeExceptionally(e));
                return;
            } catch (SQLException e) {
                connection.rollback();
                if (isTransient(e)) {
                    if (unavailableSince == 0) {
                        unavailableSince = System.nanoTime();
                        LOG.log(Level.SEVERE, "the database is unavailable (" + e.getMessage() + "); "
                                + batch.size() + " change(s) wait and are tried again", e);
                    }
                    connection.close();
                    if (closed && System.nanoTime() - unavailableSince > TimeUnit.SECONDS.toNanos(10)) {
                        batch.forEach(p -> p.done().completeExceptionally(e));
                        return;
                    }
                    Thread.sleep(backoff);
                    backoff = Math.min(backoff * 2, 2000);
                    continue;
                }
                List<List<Pending>> units = units(batch);
                if (units.size() == 1) {
                    LOG.log(Level.SEVERE, "the database refused " + (batch.size() == 1 ? "a change" : "a group of "
                            + batch.size() + " changes, stored all or none,") + " of task "
                            + batch.get(0).change().task().id(), e);
                    batch.forEach(p -> p.done().completeExceptionally(e));
                    return;
                }
                // One change spoils the transaction: write them one by one (a group that is stored all or none as
                // one), so only the refused one fails.
                for (List<Pending> unit : units) {
                    commit(unit);
                }
                return;
            }
        }
    }

    /** The pieces a failed transaction is retried in: each change alone, except a group stored all or none. */
    private static List<List<Pending>> units(List<Pending> batch) {
        List<List<Pending>> units = new ArrayList<>();
        Object previous = null;
        for (Pending pending : batch) {
            if (pending.whole() != null && pending.whole() == previous) {
                units.get(units.size() - 1).add(pending);
            } else {
                units.add(new ArrayList<>(List.of(pending)));
            }
            previous = pending.whole();
        }
        return units;
    }

    /** The owner of what a writer inserts before a fence names its master: not a valid master id. */
    public static final String UNNAMED_OWNER = "(unnamed)";

    /**
     * From now on every transaction first checks {@code fence}; when it refuses, nothing of the transaction is written,
     * its changes fail, and {@code onFencedOff} hears why. The tasks it inserts belong to {@code owner}, the master
     * the fence is for.
     */
    public void fence(WriteFence fence, String owner, java.util.function.Consumer<String> onFencedOff) {
        this.fencedOff = onFencedOff;
        this.owner = owner;
        this.fence = fence;
    }

    /** The check every transaction of this writer runs first. */
    public WriteFence fence() {
        return fence;
    }

    /** The master whose tasks this writer writes. */
    public String owner() {
        return owner;
    }

    private void writeAll(List<Rows.Change> batch) throws SQLException {
        Connection c = connection.get();
        fence.check(c);
        // Successive changes of one task (or attempt) in one transaction become one write, the last values winning.
        Map<String, Rows.TaskRow> tasks = new LinkedHashMap<>();
        Map<String, Rows.AttemptRow> attempts = new LinkedHashMap<>();
        List<Rows.KeyRow> keys = new ArrayList<>();
        for (Rows.Change change : batch) {
            if (change.task() != null) {
                tasks.merge(change.task().id(), change.task(), Rows.TaskRow::then);
            }
            for (Rows.AttemptRow attempt : change.attempts()) {
                attempts.merge(attempt.id(), attempt, Rows.AttemptRow::then);
            }
            if (change.key() != null) {
                keys.add(change.key());
            }
        }
        try (PreparedStatement insertTask = c.prepareStatement(Rows.TaskRow.INSERT);
             PreparedStatement insertAttempt = c.prepareStatement(Rows.AttemptRow.INSERT);
             PreparedStatement updateTask = c.prepareStatement(Rows.TaskRow.UPDATE);
             PreparedStatement updateTaskOutput = c.prepareStatement(Rows.TaskRow.UPDATE_WITH_OUTPUT);
             PreparedStatement updateAttempt = c.prepareStatement(Rows.AttemptRow.UPDATE);
             PreparedStatement insertKey = c.prepareStatement(Rows.KeyRow.INSERT)) {
            int inserts = 0;
            int updates = 0;
            int outputUpdates = 0;
            List<String> withOutput = new ArrayList<>();
            for (Rows.TaskRow row : tasks.values()) {
                if (row.insert()) {
                    row.bindInsert(insertTask, owner);
                    insertTask.addBatch();
                    inserts++;
                }
            }
            int attemptInserts = 0;
            int attemptUpdates = 0;
            for (Rows.AttemptRow row : attempts.values()) {
                if (row.insert()) {
                    row.bindInsert(insertAttempt);
                    insertAttempt.addBatch();
                    attemptInserts++;
                }
            }
            for (Rows.TaskRow row : tasks.values()) {
                if (!row.insert()) {
                    PreparedStatement update = row.hasOutput() ? updateTaskOutput : updateTask;
                    row.bindUpdate(update);
                    update.addBatch();
                    if (row.hasOutput()) {
                        outputUpdates++;
                        withOutput.add(row.id());
                    } else {
                        updates++;
                    }
                }
            }
            for (Rows.AttemptRow row : attempts.values()) {
                if (!row.insert()) {
                    row.bindUpdate(updateAttempt);
                    updateAttempt.addBatch();
                    attemptUpdates++;
                }
            }
            for (Rows.KeyRow key : keys) {
                key.bindInsert(insertKey);
                insertKey.addBatch();
            }
            if (inserts > 0) {
                insertTask.executeBatch();
            }
            if (attemptInserts > 0) {
                insertAttempt.executeBatch();
            }
            if (updates > 0) {
                updateTask.executeBatch();
            }
            if (outputUpdates > 0) {
                int[] written = updateTaskOutput.executeBatch();
                for (int i = 0; i < written.length; i++) {
                    if (written[i] == 0) {
                        // The row's WHERE keeps an ended attempt's result as it is; reaching it means the master's
                        // memory and its database disagree about the task.
                        LOG.severe("the result of task " + withOutput.get(i) + " was not written: in the database "
                                + "the task has ended already");
                    }
                }
            }
            if (attemptUpdates > 0) {
                updateAttempt.executeBatch();
            }
            if (!keys.isEmpty()) {
                insertKey.executeBatch();
            }
        }
        c.commit();
    }

    /** A failure of the database or the way to it, rather than a refusal of this change. */
    private boolean isTransient(SQLException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof SQLTransientException || t instanceof SQLRecoverableException) {
                return true;
            }
            if (t instanceof SQLException sql && sql.getSQLState() != null
                    && (sql.getSQLState().startsWith("08") || sql.getSQLState().startsWith("57")
                    || sql.getSQLState().equals("40001") || sql.getSQLState().equals("40P01"))) {
                return true;
            }
        }
        return connection.isBroken();
    }

    /** Writes what is queued (giving the database ten seconds if it is away), then stops the thread. */
    @Override
    public void close() {
        closed = true;
        try {
            thread.join(TimeUnit.SECONDS.toMillis(15));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) {
            thread.interrupt();
        }
        List<Pending> left;
        while ((left = queue.poll()) != null) {
            left.forEach(p -> p.done().completeExceptionally(
                    new IllegalStateException("the master stopped before writing this")));
        }
    }
}
