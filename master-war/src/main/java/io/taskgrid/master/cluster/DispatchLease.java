package io.taskgrid.master.cluster;

import io.taskgrid.master.task.DatabaseDriver;
import io.taskgrid.master.task.WriteFence;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A lease in the database ({@code TG_LEASE}, one row by name): which master holds it, until when, and under which
 * epoch. Row {@code housekeeping} is the housekeeping master's (on H2, the one master's, fencing its writes); on a
 * database several masters share, each also holds row {@code master:<id>}, its own, whose epoch fences its writes
 * ({@link #forMaster}). Row {@code dispatch}, which masters before V10 took turns at, is retired (V10). Every statement names the holder and, after taking the lease, its epoch, so that each
 * is decided by the database alone: two masters that race for the lease cannot both win, and a master whose lease
 * another took cannot renew it, whatever their clocks say. Times are the database's.
 */
public final class DispatchLease implements LeaseStore {

    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(DispatchLease.class.getName());

    private static final String TABLE_ROW = "FROM TG_LEASE WHERE NAME = ?";
    /** The row of the lease a master holds for itself: this prefix and its id. */
    public static final String MASTER_ROW_PREFIX = io.taskgrid.master.task.TaskStore.OWN_LEASE_ROW_PREFIX;

    private final DataSource dataSource;
    private final int timeoutSeconds;
    private final long idleInTransactionMillis;
    private final String name;
    private volatile DatabaseDriver driver;
    private volatile boolean rowKnown;

    /**
     * The housekeeping lease.
     *
     * @param statementTimeout how long one statement may wait for the database before it counts as failed; also how
     *                         long a fenced transaction may stand idle on PostgreSQL before the server ends it
     */
    public DispatchLease(DataSource dataSource, Duration statementTimeout) {
        this(dataSource, statementTimeout, "housekeeping");
    }

    private DispatchLease(DataSource dataSource, Duration statementTimeout, String name) {
        this.name = name;
        this.dataSource = dataSource;
        this.timeoutSeconds = (int) Math.max(1, statementTimeout.toSeconds());
        this.idleInTransactionMillis = Math.max(1000, statementTimeout.toMillis());
    }

    /** The lease master {@code id} holds for itself: row {@code master:<id>}, made when first taken. */
    public static DispatchLease forMaster(DataSource dataSource, Duration statementTimeout, String id) {
        return new DispatchLease(dataSource, statementTimeout, MASTER_ROW_PREFIX + id);
    }

    /** The row's name. */
    public String name() {
        return name;
    }

    /** Makes the row, free and run out, unless it is there. */
    private void ensureRow() throws SQLException {
        if (rowKnown) {
            return;
        }
        try (Connection c = dataSource.getConnection()) {
            boolean there;
            try (PreparedStatement s = c.prepareStatement("SELECT 1 " + TABLE_ROW)) {
                s.setQueryTimeout(timeoutSeconds);
                s.setString(1, name);
                try (ResultSet r = s.executeQuery()) {
                    there = r.next();
                }
            }
            if (!there) {
                try (PreparedStatement s = c.prepareStatement("INSERT INTO TG_LEASE (NAME, HOLDER, EPOCH, EXPIRES_AT) "
                        + "VALUES (?, NULL, 0, TIMESTAMP WITH TIME ZONE '2000-01-01 00:00:00+00:00')")) {
                    s.setQueryTimeout(timeoutSeconds);
                    s.setString(1, name);
                    s.executeUpdate();
                } catch (SQLException e) {
                    // Another process of the same id may have made it meanwhile: known only once it is there.
                    try (PreparedStatement s = c.prepareStatement("SELECT 1 " + TABLE_ROW)) {
                        s.setQueryTimeout(timeoutSeconds);
                        s.setString(1, name);
                        try (ResultSet r = s.executeQuery()) {
                            if (!r.next()) {
                                throw e;
                            }
                        }
                    }
                }
            }
        }
        rowKnown = true;
    }

    @Override
    public DatabaseDriver driver() throws SQLException {
        DatabaseDriver known = driver;
        if (known == null) {
            try (Connection c = dataSource.getConnection()) {
                known = DatabaseDriver.of(c);
            }
            driver = known;
        }
        return known;
    }

    @Override
    public OptionalLong acquire(String me, Duration lease) throws SQLException {
        // Free, expired, or this master's own from before a restart (a new epoch fences the earlier process).
        return take(me, lease, " AND (HOLDER IS NULL OR HOLDER = ? OR EXPIRES_AT < CURRENT_TIMESTAMP)");
    }

    @Override
    public long takeOver(String me, Duration lease) throws SQLException {
        return take(me, lease, "").orElseThrow(() -> new SQLException("TG_LEASE has no dispatch row"));
    }

    private OptionalLong take(String me, Duration lease, String condition) throws SQLException {
        ensureRow();
        String take = "UPDATE TG_LEASE SET HOLDER = ?, EPOCH = EPOCH + 1, EXPIRES_AT = " + driver().nowPlusMillis()
                + " WHERE NAME = ?" + condition;
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try {
                // First the row's exclusive lock: it waits for the writes that checked the fence of the holder before
                // (their lock does not hold up an UPDATE by itself; see DatabaseDriver#fenceCheck).
                try (PreparedStatement s = c.prepareStatement("SELECT EPOCH " + TABLE_ROW + " FOR UPDATE")) {
                    s.setQueryTimeout(timeoutSeconds);
                    s.setString(1, name);
                    s.executeQuery().close();
                }
                int taken;
                try (PreparedStatement s = c.prepareStatement(take)) {
                    s.setQueryTimeout(timeoutSeconds);
                    s.setString(1, me);
                    s.setLong(2, lease.toMillis());
                    s.setString(3, name);
                    if (!condition.isEmpty()) {
                        s.setString(4, me);
                    }
                    taken = s.executeUpdate();
                }
                OptionalLong epoch = OptionalLong.empty();
                if (taken == 1) {
                    try (PreparedStatement s = c.prepareStatement("SELECT EPOCH " + TABLE_ROW + " AND HOLDER = ?")) {
                        s.setQueryTimeout(timeoutSeconds);
                        s.setString(1, name);
                        s.setString(2, me);
                        try (ResultSet r = s.executeQuery()) {
                            if (r.next()) {
                                epoch = OptionalLong.of(r.getLong(1));
                            }
                        }
                    }
                }
                c.commit();
                return epoch;
            } catch (SQLException e) {
                c.rollback();
                throw e;
            }
        }
    }

    @Override
    public boolean renew(String me, long epoch, Duration lease) throws SQLException {
        return update("UPDATE TG_LEASE SET EXPIRES_AT = " + driver().nowPlusMillis()
                + " WHERE NAME = ? AND HOLDER = ? AND EPOCH = ?", lease.toMillis(), name, me, epoch) == 1;
    }

    @Override
    public void release(String me, long epoch) throws SQLException {
        update("UPDATE TG_LEASE SET HOLDER = NULL, EXPIRES_AT = CURRENT_TIMESTAMP WHERE NAME = ? AND HOLDER = ? "
                + "AND EPOCH = ?", name, me, epoch);
    }

    @Override
    public Optional<Holder> holder() throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT HOLDER, EPOCH, CASE WHEN EXPIRES_AT < CURRENT_TIMESTAMP "
                     + "THEN 1 ELSE 0 END " + TABLE_ROW)) {
            s.setQueryTimeout(timeoutSeconds);
            s.setString(1, name);
            try (ResultSet r = s.executeQuery()) {
                if (r.next() && r.getString(1) != null) {
                    return Optional.of(new Holder(r.getString(1), r.getLong(2), r.getInt(3) == 1));
                }
                return Optional.empty();
            }
        }
    }

    @Override
    public void seen(String me, String role) throws SQLException {
        if (update("UPDATE TG_MASTER SET ROLE = ?, SEEN_AT = CURRENT_TIMESTAMP WHERE ID = ?", role, me) == 0) {
            try {
                update("INSERT INTO TG_MASTER (ID, ROLE, STARTED_AT, SEEN_AT) VALUES (?, ?, CURRENT_TIMESTAMP, "
                        + "CURRENT_TIMESTAMP)", me, role);
            } catch (SQLException e) {
                // Another process of the same id inserted it meanwhile: the next call updates it.
                if (update("UPDATE TG_MASTER SET ROLE = ?, SEEN_AT = CURRENT_TIMESTAMP WHERE ID = ?", role, me) == 0) {
                    throw e;
                }
            }
        }
    }

    @Override
    public int othersSeenWithin(String me, Duration within) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT COUNT(*) FROM TG_MASTER WHERE ID <> ? AND SEEN_AT > "
                     + driver().nowPlusMillis())) {
            s.setQueryTimeout(timeoutSeconds);
            s.setString(1, me);
            s.setLong(2, -within.toMillis());
            try (ResultSet r = s.executeQuery()) {
                r.next();
                return r.getInt(1);
            }
        }
    }

    @Override
    public WriteFence fence(String me, long epoch) {
        DatabaseDriver known;
        try {
            known = driver();
        } catch (SQLException e) {
            throw new IllegalStateException("cannot tell the database's kind: " + e.getMessage(), e);
        }
        // Where the driver can, the same statement bounds how long this transaction may sit idle: a master that dies or
        // stands still inside it would otherwise hold the lease row's lock until the server notices the lost connection
        // (hours, with default TCP keepalive), and no other master could take the lease meanwhile.
        boolean boundsIdle = known.fenceBoundsIdleTime();
        String sql = known.fenceCheck(TABLE_ROW + " AND HOLDER = ? AND EPOCH = ?");
        return c -> {
            try (PreparedStatement s = c.prepareStatement(sql)) {
                s.setQueryTimeout(timeoutSeconds);
                int i = 1;
                if (boundsIdle) {
                    s.setString(i++, Long.toString(idleInTransactionMillis));
                }
                s.setString(i++, name);
                s.setString(i++, me);
                s.setLong(i, epoch);
                try (ResultSet r = s.executeQuery()) {
                    if (!r.next()) {
                        throw new WriteFence.FencedOff("master " + me + " no longer holds its lease " + name + " (epoch "
                                + epoch + "): another master took it, or took over this database");
                    }
                }
            }
        };
    }

    private int update(String sql, Object... parameters) throws SQLException {
        try (Connection c = dataSource.getConnection(); PreparedStatement s = c.prepareStatement(sql)) {
            s.setQueryTimeout(timeoutSeconds);
            for (int i = 0; i < parameters.length; i++) {
                s.setObject(i + 1, parameters[i]);
            }
            return s.executeUpdate();
        }
    }
}
