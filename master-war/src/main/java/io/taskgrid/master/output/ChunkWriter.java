package io.taskgrid.master.output;

import io.taskgrid.master.task.TaskState;
import io.taskgrid.master.task.TaskTransitions;
import io.taskgrid.master.task.WriteFence;
import io.taskgrid.master.task.WriterConnection;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLIntegrityConstraintViolationException;
import java.util.ArrayList;
import java.util.HashMap;
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
 * The one writer of output chunks: whatever arrived while the previous transaction committed goes in the next one,
 * and each chunk's future completes once it is durable. A database that is away is waited for (the chunks stay
 * queued, and since the agents' acknowledgements wait too, gRPC flow control stops them sending more); a change the
 * database refuses fails alone. Kept apart from the tasks' group commit: output is bulky and frequent, and must not
 * delay the commits that assignments and results wait for.
 *
 * <p>Every change is written only while its attempt is its task's current attempt in flight, in the same transaction
 * ({@link #CURRENT}): whatever the caller checked before, the output of an attempt that has ended never changes. A
 * change fenced off so fails alone, with {@link AttemptNotCurrent}.
 */
final class ChunkWriter implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(ChunkWriter.class.getName());
    private static final int MAX_BATCH = 256;

    /** A change to the chunk table. */
    sealed interface Op permits Append, Replace {
        String taskId();

        String attemptId();
    }

    /**
     * A new chunk; tail rows of the stream that end at or before {@code dropBelow} go (0: none); with
     * {@code dropEarlierAttempts}, every row of the task's earlier attempts goes too.
     */
    record Append(String taskId, String attemptId, String stream, long offset, byte[] data, long dropBelow, long head,
                  boolean dropEarlierAttempts) implements Op {
    }

    /** Every row of the stream replaced by {@code pieces}; and of the task's earlier attempts, as for an append. */
    record Replace(String taskId, String attemptId, String stream, List<OutputWindow.Piece> pieces,
                   boolean dropEarlierAttempts) implements Op {
    }

    private record Pending(Op op, CompletableFuture<Void> done) {
    }

    static final String INSERT = "INSERT INTO TG_OUTPUT_CHUNK (TASK_ID, ATTEMPT_ID, STREAM, START_OFFSET, END_OFFSET, "
            + "DATA) VALUES (?, ?, ?, ?, ?, ?)";
    static final String DROP_TAIL = "DELETE FROM TG_OUTPUT_CHUNK WHERE ATTEMPT_ID = ? AND STREAM = ? "
            + "AND START_OFFSET >= ? AND END_OFFSET <= ?";
    static final String DROP_ALL = "DELETE FROM TG_OUTPUT_CHUNK WHERE ATTEMPT_ID = ? AND STREAM = ?";
    /** Whether the attempt is its task's current one and in flight: only then is its output written. */
    static final String CURRENT = "SELECT 1 FROM TG_TASK WHERE ID = ? AND ATTEMPT_ID = ? AND STATE IN "
            + TaskState.sqlList(TaskTransitions.inFlight());
    /** Attempt ids sort by creation as strings (UUIDv7), so this never touches a later attempt's rows. */
    static final String DROP_EARLIER_ATTEMPTS = "DELETE FROM TG_OUTPUT_CHUNK WHERE TASK_ID = ? AND ATTEMPT_ID < ?";

    private final BlockingQueue<Pending> queue = new LinkedBlockingQueue<>();
    private final Thread thread;
    private volatile boolean closed;
    private final WriterConnection connection;
    private volatile WriteFence fence = WriteFence.NONE;

    ChunkWriter(DataSource dataSource, ThreadFactory threads) {
        this.connection = new WriterConnection(dataSource);
        this.thread = threads.newThread(this::run);
        this.thread.setName("taskgrid-output-writer");
        this.thread.start();
    }

    /** From now on every transaction first checks {@code fence}; output it refuses is not stored. */
    void fence(WriteFence writeFence) {
        this.fence = writeFence;
    }

    CompletableFuture<Void> write(Op op) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        if (closed) {
            done.completeExceptionally(new IllegalStateException("the master is stopping"));
        } else {
            queue.add(new Pending(op, done));
        }
        return done;
    }

    private void run() {
        List<Pending> batch = new ArrayList<>();
        while (!closed || !queue.isEmpty()) {
            try {
                Pending first = queue.poll(200, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                batch.add(first);
                queue.drainTo(batch, MAX_BATCH - 1);
                commit(batch);
            } catch (InterruptedException e) {
                if (closed) {
                    break;
                }
            } catch (RuntimeException e) {
                LOG.log(Level.SEVERE, "the output writer failed unexpectedly", e);
                batch.forEach(p -> p.done().completeExceptionally(e));
            }
            batch.clear();
        }
        connection.close();
    }

    private void commit(List<Pending> batch) throws InterruptedException {
        long backoff = 50;
        while (true) {
            try {
                Connection c = connection.get();
                fence.check(c);
                boolean[] written = new boolean[batch.size()];
                Map<String, Boolean> current = new HashMap<>();
                for (int i = 0; i < batch.size(); i++) {
                    written[i] = isCurrent(c, batch.get(i).op(), current);
                    if (written[i]) {
                        apply(c, batch.get(i).op());
                    }
                }
                c.commit();
                for (int i = 0; i < batch.size(); i++) {
                    Pending pending = batch.get(i);
                    if (written[i]) {
                        pending.done().complete(null);
                    } else {
                        pending.done().completeExceptionally(new AttemptNotCurrent(pending.op().attemptId()));
                    }
                }
                return;
            } catch (WriteFence.FencedOff e) {
                connection.rollback();
                batch.forEach(p -> p.done().completeExceptionally(e));
                return;
            } catch (SQLException e) {
                connection.rollback();
                boolean refused = e instanceof SQLIntegrityConstraintViolationException
                        || (e.getSQLState() != null && e.getSQLState().startsWith("23"));
                if (!refused) {
                    connection.close();
                    if (closed) {
                        batch.forEach(p -> p.done().completeExceptionally(e));
                        return;
                    }
                    LOG.log(Level.WARNING, "could not store output (" + e.getMessage() + "); trying again", e);
                    Thread.sleep(backoff);
                    backoff = Math.min(backoff * 2, 2000);
                    continue;
                }
                if (batch.size() == 1) {
                    LOG.log(Level.WARNING, "the database refused output of an attempt", e);
                    batch.get(0).done().completeExceptionally(e);
                    return;
                }
                for (Pending one : batch) {
                    commit(List.of(one));
                }
                return;
            }
        }
    }

    /** Whether the op's attempt is in flight, asked once per attempt and transaction. */
    private static boolean isCurrent(Connection c, Op op, Map<String, Boolean> known) throws SQLException {
        Boolean answer = known.get(op.attemptId());
        if (answer == null) {
            try (PreparedStatement s = c.prepareStatement(CURRENT)) {
                s.setString(1, op.taskId());
                s.setString(2, op.attemptId());
                try (ResultSet r = s.executeQuery()) {
                    answer = r.next();
                }
            }
            known.put(op.attemptId(), answer);
        }
        return answer;
    }

    private static void apply(Connection c, Op op) throws SQLException {
        if (op instanceof Append append && append.dropEarlierAttempts()) {
            dropEarlierAttempts(c, append.taskId(), append.attemptId());
        } else if (op instanceof Replace replace && replace.dropEarlierAttempts()) {
            dropEarlierAttempts(c, replace.taskId(), replace.attemptId());
        }
        if (op instanceof Append append) {
            if (append.dropBelow() > 0) {
                try (PreparedStatement s = c.prepareStatement(DROP_TAIL)) {
                    s.setString(1, append.attemptId());
                    s.setString(2, append.stream());
                    s.setLong(3, append.head());
                    s.setLong(4, append.dropBelow());
                    s.executeUpdate();
                }
            }
            insert(c, append.taskId(), append.attemptId(), append.stream(),
                    List.of(new OutputWindow.Piece(append.offset(), append.data())));
        } else if (op instanceof Replace replace) {
            try (PreparedStatement s = c.prepareStatement(DROP_ALL)) {
                s.setString(1, replace.attemptId());
                s.setString(2, replace.stream());
                s.executeUpdate();
            }
            insert(c, replace.taskId(), replace.attemptId(), replace.stream(), replace.pieces());
        }
    }

    private static void dropEarlierAttempts(Connection c, String taskId, String attemptId) throws SQLException {
        try (PreparedStatement s = c.prepareStatement(DROP_EARLIER_ATTEMPTS)) {
            s.setString(1, taskId);
            s.setString(2, attemptId);
            s.executeUpdate();
        }
    }

    private static void insert(Connection c, String taskId, String attemptId, String stream,
                               List<OutputWindow.Piece> pieces) throws SQLException {
        if (pieces.isEmpty()) {
            return;
        }
        try (PreparedStatement s = c.prepareStatement(INSERT)) {
            for (OutputWindow.Piece piece : pieces) {
                s.setString(1, taskId);
                s.setString(2, attemptId);
                s.setString(3, stream);
                s.setLong(4, piece.offset());
                s.setLong(5, piece.end());
                s.setBytes(6, piece.data());
                s.addBatch();
            }
            s.executeBatch();
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            thread.join(TimeUnit.SECONDS.toMillis(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) {
            thread.interrupt();
        }
        Pending left;
        while ((left = queue.poll()) != null) {
            left.done().completeExceptionally(new IllegalStateException("the master stopped before writing this"));
        }
    }
}
