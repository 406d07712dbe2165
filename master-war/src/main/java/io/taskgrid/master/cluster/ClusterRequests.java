package io.taskgrid.master.cluster;

import io.taskgrid.master.task.DatabaseDriver;
import io.taskgrid.master.task.WriteFence;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * Cancels and drains that a master which is not active took for the active one ({@code TG_REQUEST}). Only the active
 * master holds the tasks in flight and the agents' streams, so the change is written here, announced
 * ({@link DatabaseDriver#announce}), and carried out by the active master, which deletes the request in a fenced
 * transaction once what it did is durable: a request is never dropped by a master that lost its lease meanwhile.
 */
public final class ClusterRequests {

    /** What a request asks. */
    public enum Kind {
        /** Cancel the task {@code target}; the caller was found allowed to by the master that took the request. */
        CANCEL,
        /** Drain the worker {@code target}. */
        DRAIN
    }

    /** One request, in the order taken ({@code seq}). */
    public record Request(long seq, Kind kind, String target, String askedBy) {
    }

    private final DataSource dataSource;

    public ClusterRequests(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    /**
     * Stores a request and announces it; returns its sequence number once committed. One request per kind and target
     * waits at a time: asking again while one waits returns that one's number and stores nothing, so that a caller
     * who repeats a cancel cannot pile requests up while no master carries them out.
     */
    public long ask(Kind kind, String target, String askedBy) throws SQLException {
        OptionalLong waiting = find(kind, target);
        if (waiting.isPresent()) {
            return waiting.getAsLong();
        }
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try {
                long seq;
                try (PreparedStatement s = c.prepareStatement("INSERT INTO TG_REQUEST (KIND, TARGET, ASKED_BY, "
                        + "ASKED_AT) VALUES (?, ?, ?, CURRENT_TIMESTAMP)", java.sql.Statement.RETURN_GENERATED_KEYS)) {
                    s.setString(1, kind.name());
                    s.setString(2, target);
                    s.setString(3, askedBy);
                    s.executeUpdate();
                    try (ResultSet keys = s.getGeneratedKeys()) {
                        keys.next();
                        seq = keys.getLong(1);
                    }
                }
                DatabaseDriver.of(c).announce(c);
                c.commit();
                return seq;
            } catch (SQLException e) {
                c.rollback();
                if ("23505".equals(e.getSQLState())) {
                    // Another caller's request for the same target committed in between: that one is ours too.
                    OptionalLong theirs = find(kind, target);
                    if (theirs.isPresent()) {
                        return theirs.getAsLong();
                    }
                }
                throw e;
            } catch (RuntimeException e) {
                c.rollback();
                throw e;
            }
        }
    }

    private OptionalLong find(Kind kind, String target) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT SEQ FROM TG_REQUEST WHERE KIND = ? AND TARGET = ?")) {
            s.setString(1, kind.name());
            s.setString(2, target);
            try (ResultSet r = s.executeQuery()) {
                return r.next() ? OptionalLong.of(r.getLong(1)) : OptionalLong.empty();
            }
        }
    }

    /** Whether the request is still waiting to be carried out. */
    public boolean waiting(long seq) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT 1 FROM TG_REQUEST WHERE SEQ = ?")) {
            s.setLong(1, seq);
            try (ResultSet r = s.executeQuery()) {
                return r.next();
            }
        }
    }

    /** The oldest {@code limit} requests waiting, in the order taken. */
    public List<Request> waiting(int limit) throws SQLException {
        List<Request> found = new ArrayList<>();
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT SEQ, KIND, TARGET, ASKED_BY FROM TG_REQUEST ORDER BY SEQ")) {
            s.setMaxRows(limit);
            try (ResultSet r = s.executeQuery()) {
                while (r.next()) {
                    Kind kind;
                    try {
                        kind = Kind.valueOf(r.getString(2));
                    } catch (IllegalArgumentException unknown) {
                        // Written by a newer master during a rolling upgrade: left for one that knows it.
                        continue;
                    }
                    found.add(new Request(r.getLong(1), kind, r.getString(3), r.getString(4)));
                }
            }
        }
        return found;
    }

    /** The requests were carried out and what they changed is durable: deleted, if {@code fence} lets this master. */
    public void carriedOut(List<Request> done, WriteFence fence) throws SQLException {
        if (done.isEmpty()) {
            return;
        }
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try {
                fence.check(c);
                try (PreparedStatement s = c.prepareStatement("DELETE FROM TG_REQUEST WHERE SEQ = ?")) {
                    for (Request request : done) {
                        s.setLong(1, request.seq());
                        s.addBatch();
                    }
                    s.executeBatch();
                }
                c.commit();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        }
    }
}
