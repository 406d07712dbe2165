package io.taskgrid.master.output;

import io.taskgrid.master.config.TaskgridConfig;
import io.taskgrid.master.task.TaskState;
import jakarta.annotation.PreDestroy;
import jakarta.annotation.Resource;
import jakarta.enterprise.concurrent.ManagedThreadFactory;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadFactory;

/**
 * Live output, stored as it arrives: one row per chunk in {@code TG_OUTPUT_CHUNK}, keyed by attempt, stream and byte
 * offset, written by one writer thread ({@link ChunkWriter}) that commits whatever arrived meanwhile together, and
 * acknowledged to the agent only once durable. The head of each stream is kept without gaps; past it, rows that fall
 * out of the tail window are deleted as new ones come, so a stream never takes more than about the cap, however much
 * the command prints.
 *
 * <p>How far each stream is stored is kept in memory as a cache (read back from the table when missing), so a chunk
 * costs one insert, not a query. Readers ({@code GET /tasks/{id}/output}) read the table and are woken through
 * {@link #signals()} when something new is durable.
 */
@ApplicationScoped
public class OutputStore {

    /** Cached stream ends at most; past it the cache starts again (it is only a cache). */
    private static final int MAX_CACHED_STREAMS = 10_000;

    @Resource(lookup = "java:comp/env/jdbc/taskgrid", shareable = false)
    DataSource dataSource;

    @Resource(lookup = "java:comp/DefaultManagedThreadFactory")
    ManagedThreadFactory threadFactory;

    @Inject
    TaskgridConfig config;

    private OutputWindow window;
    private final OutputSignals signals = new OutputSignals();
    private final Map<String, StreamEnd> ends = new ConcurrentHashMap<>();
    /**
     * The newest attempt of each task that stored output through this master. Only that attempt's output is shown, so
     * when a new attempt stores its first chunk the rows of the earlier ones go in the same transaction: a task that
     * runs again and again (retries, lost workers) never holds more than one attempt's worth, about the cap per
     * stream, where it held maxAttempts + retries times that before. Only a cache: without an entry the next chunk
     * drops earlier attempts again, which is harmless.
     */
    private final Map<String, String> newestAttempts = new ConcurrentHashMap<>();
    private ChunkWriter writer;

    /** How far one stream is stored; its monitor orders the decisions about that stream. */
    private static final class StreamEnd {
        private long end = -1;
    }

    /** For CDI. */
    protected OutputStore() {
    }

    /** A store over {@code dataSource} with a writer on {@code threads}, for tests. */
    public OutputStore(DataSource dataSource, long limit, ThreadFactory threads) {
        this.dataSource = dataSource;
        this.window = new OutputWindow(limit);
        this.writer = new ChunkWriter(dataSource, threads);
    }

    private synchronized ChunkWriter writer() {
        if (writer == null) {
            writer = new ChunkWriter(dataSource, threadFactory);
        }
        return writer;
    }

    /**
     * Output is stored only while this master holds its database's dispatch lease: a master cut off or paused past
     * it must not overwrite what the agents sent through its successor since.
     */
    public void fence(io.taskgrid.master.task.WriteFence fence) {
        writer().fence(fence);
    }

    public synchronized OutputWindow window() {
        if (window == null) {
            window = new OutputWindow(config.outputLimitBytes());
        }
        return window;
    }

    public OutputSignals signals() {
        return signals;
    }

    @PreDestroy
    public synchronized void close() {
        if (writer != null) {
            writer.close();
        }
    }

    /**
     * Stores a chunk of a stream of an attempt the caller has checked is the sender's. Completes with the offset up
     * to which the stream is durable, once it is.
     */
    public CompletableFuture<Long> append(String taskId, String attemptId, StdStream stream, long offset, byte[] data) {
        Turn turn = turnOf(taskId, attemptId);
        if (turn == Turn.STALE) {
            return CompletableFuture.failedFuture(new IllegalStateException("a later attempt of task " + taskId
                    + " stores its output now; attempt " + attemptId + " no longer may"));
        }
        StreamEnd state = end(attemptId, stream);
        synchronized (state) {
            OutputWindow.Decision decision = window().accept(state.end, offset, data.length);
            if (!decision.store()) {
                return CompletableFuture.completedFuture(state.end);
            }
            byte[] kept = decision.skip() == 0 ? data : Arrays.copyOfRange(data, decision.skip(), data.length);
            state.end = decision.newEnd();
            long ack = decision.newEnd();
            return writer().write(new ChunkWriter.Append(taskId, attemptId, stream.column(), offset + decision.skip(),
                    kept, decision.dropBelow(), window().head(), turn == Turn.FIRST)).handle((v, e) -> {
                        if (e != null) {
                            forget(attemptId);
                            newestAttempts.remove(taskId, attemptId);
                            throw e instanceof CompletionException c ? c : new CompletionException(e);
                        }
                        signals.changed(taskId);
                        return ack;
                    });
        }
    }

    /**
     * The attempt's final report came, saying the stream printed {@code total} bytes and keeping {@code kept} of them
     * (head, marker, tail). Chunks that fall short of it (the agent restarted, or gave up waiting for the master)
     * are replaced by what the report kept, so that readers see the same output either way.
     */
    public CompletableFuture<Void> settle(String taskId, String attemptId, StdStream stream, byte[] kept, long total) {
        Turn turn = turnOf(taskId, attemptId);
        if (turn == Turn.STALE) {
            return CompletableFuture.completedFuture(null);
        }
        StreamEnd state = end(attemptId, stream);
        synchronized (state) {
            if (state.end == total) {
                return CompletableFuture.completedFuture(null);
            }
            List<OutputWindow.Piece> pieces = window().fromFinalReport(kept, total);
            if (pieces.isEmpty() && total > 0) {
                return CompletableFuture.completedFuture(null);
            }
            state.end = total;
            return writer().write(new ChunkWriter.Replace(taskId, attemptId, stream.column(), pieces,
                            turn == Turn.FIRST))
                    .whenComplete((v, e) -> {
                        if (e != null) {
                            forget(attemptId);
                            newestAttempts.remove(taskId, attemptId);
                        }
                    });
        }
    }

    /** Where an attempt stands among its task's attempts that stored output here. */
    private enum Turn {
        /** The newest seen: its chunks go as they come. */
        CURRENT,
        /** Newer than any seen (or none seen since the cache started): earlier attempts' rows go with its chunk. */
        FIRST,
        /** Older than one that stored output already: a late chunk of an attempt that is over; nothing is stored. */
        STALE
    }

    private Turn turnOf(String taskId, String attemptId) {
        if (newestAttempts.size() > MAX_CACHED_STREAMS) {
            newestAttempts.clear();
        }
        Turn[] turn = new Turn[1];
        // Attempt ids are UUIDv7: as strings, a later attempt sorts after every earlier one.
        newestAttempts.compute(taskId, (task, newest) -> {
            if (newest == null || attemptId.compareTo(newest) > 0) {
                turn[0] = Turn.FIRST;
                return attemptId;
            }
            turn[0] = attemptId.equals(newest) ? Turn.CURRENT : Turn.STALE;
            return newest;
        });
        return turn[0];
    }

    /** Forgets the cached ends of the attempt's streams (the table has them). */
    public void forget(String attemptId) {
        for (StdStream stream : StdStream.values()) {
            ends.remove(attemptId + "/" + stream.column());
        }
    }

    private StreamEnd end(String attemptId, StdStream stream) {
        if (ends.size() > MAX_CACHED_STREAMS) {
            ends.clear();
        }
        StreamEnd state = ends.computeIfAbsent(attemptId + "/" + stream.column(), k -> new StreamEnd());
        synchronized (state) {
            if (state.end < 0) {
                state.end = storedEnd(attemptId, stream);
            }
        }
        return state;
    }

    // ---- reads ----

    /** What a reader needs of the task itself. */
    public record TaskHeader(String state, String attemptId, Integer exitCode, boolean stdoutTruncated,
                             boolean stderrTruncated) {
        public boolean isFinal() {
            return TaskState.valueOf(state).isFinal();
        }
    }

    public Optional<TaskHeader> header(String taskId) {
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT STATE, ATTEMPT_ID, EXIT_CODE, STDOUT_TRUNCATED, "
                     + "STDERR_TRUNCATED FROM TG_TASK WHERE ID = ?")) {
            s.setString(1, taskId);
            try (ResultSet r = s.executeQuery()) {
                if (!r.next()) {
                    return Optional.empty();
                }
                return Optional.of(new TaskHeader(r.getString(1), r.getString(2), r.getObject(3, Integer.class),
                        r.getBoolean(4), r.getBoolean(5)));
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read task " + taskId + ": " + e.getMessage(), e);
        }
    }

    /** Whether any output of the attempt was streamed. */
    public boolean hasChunks(String attemptId) {
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT 1 FROM TG_OUTPUT_CHUNK WHERE ATTEMPT_ID = ? "
                     + "FETCH FIRST 1 ROWS ONLY")) {
            s.setString(1, attemptId);
            try (ResultSet r = s.executeQuery()) {
                return r.next();
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read output of attempt " + attemptId + ": " + e.getMessage(), e);
        }
    }

    /** How far the stream is stored, from the table. */
    public long storedEnd(String attemptId, StdStream stream) {
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT MAX(END_OFFSET) FROM TG_OUTPUT_CHUNK WHERE ATTEMPT_ID = ? "
                     + "AND STREAM = ?")) {
            s.setString(1, attemptId);
            s.setString(2, stream.column());
            try (ResultSet r = s.executeQuery()) {
                return r.next() ? r.getLong(1) : 0;
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read output of attempt " + attemptId + ": " + e.getMessage(), e);
        }
    }

    /**
     * The stored pieces of a stream that end after {@code from}, in offset order, until about {@code maxBytes} are
     * read (at least one piece when there is one).
     */
    public List<OutputWindow.Piece> pieces(String attemptId, StdStream stream, long from, int maxBytes) {
        List<OutputWindow.Piece> pieces = new ArrayList<>();
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT START_OFFSET, DATA, ID FROM TG_OUTPUT_CHUNK "
                     + "WHERE ATTEMPT_ID = ? AND STREAM = ? AND END_OFFSET > ? ORDER BY START_OFFSET")) {
            s.setString(1, attemptId);
            s.setString(2, stream.column());
            s.setLong(3, from);
            s.setFetchSize(16);
            try (ResultSet r = s.executeQuery()) {
                long read = 0;
                while (read < maxBytes && r.next()) {
                    byte[] data = r.getBytes(2);
                    pieces.add(new OutputWindow.Piece(r.getLong(1), data, r.getLong(3)));
                    read += data.length;
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read output of attempt " + attemptId + ": " + e.getMessage(), e);
        }
        return pieces;
    }

    /** The output as the final report gave it (agents that stream nothing): stdout or stderr text. */
    public String finalText(String taskId, StdStream stream) {
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT " + (stream == StdStream.STDOUT ? "STDOUT_TEXT" : "STDERR_TEXT")
                     + " FROM TG_TASK WHERE ID = ?")) {
            s.setString(1, taskId);
            try (ResultSet r = s.executeQuery()) {
                String text = r.next() ? r.getString(1) : null;
                return text == null ? "" : text;
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read task " + taskId + ": " + e.getMessage(), e);
        }
    }
}
