package io.taskgrid.master.cluster;

import io.taskgrid.master.task.TaskStore;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The leases masters hold for themselves (rows {@code master:<id>} of {@code TG_LEASE}), as the housekeeping master
 * sees them: it takes the lease of a master that let it run out, so that the master is fenced off for good before its
 * tasks go to others. Taking it waits for every write that master's fence let through to commit.
 */
public final class MasterLeases {

    private final DataSource dataSource;
    private final int timeoutSeconds;

    public MasterLeases(DataSource dataSource, Duration statementTimeout) {
        this.dataSource = dataSource;
        this.timeoutSeconds = (int) Math.max(1, statementTimeout.toSeconds());
    }

    /** A master whose own lease ran out while it held it: gone, or cut off from the database. */
    public record RunOut(String master, long epoch) {
    }

    /** The masters whose own lease ran out while they held it. */
    public List<RunOut> runOut() throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT NAME, HOLDER, EPOCH FROM TG_LEASE WHERE NAME LIKE '"
                     + DispatchLease.MASTER_ROW_PREFIX + "%' AND HOLDER IS NOT NULL AND EXPIRES_AT < CURRENT_TIMESTAMP")) {
            s.setQueryTimeout(timeoutSeconds);
            List<RunOut> found = new ArrayList<>();
            try (ResultSet r = s.executeQuery()) {
                while (r.next()) {
                    String master = r.getString(1).substring(DispatchLease.MASTER_ROW_PREFIX.length());
                    if (master.equals(r.getString(2))) {
                        found.add(new RunOut(master, r.getLong(3)));
                    }
                }
            }
            return found;
        }
    }

    /**
     * Takes the run-out lease from its master: no holder, a new epoch, so that none of that master's writes commits
     * from now on and it learns at its next renewal that it was deposed. First the row's exclusive lock, which waits for
     * the master's writes in progress (they hold the row under their fence). Whether it was taken: not if the master
     * renewed meanwhile.
     */
    public boolean takeFrom(RunOut master) throws SQLException {
        String name = DispatchLease.MASTER_ROW_PREFIX + master.master();
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try {
                try (PreparedStatement s = c.prepareStatement("SELECT EPOCH FROM TG_LEASE WHERE NAME = ? FOR UPDATE")) {
                    s.setQueryTimeout(timeoutSeconds);
                    s.setString(1, name);
                    s.executeQuery().close();
                }
                boolean taken = TaskStore.takeRunOutLease(c, master.master(), master.epoch());
                c.commit();
                return taken;
            } catch (SQLException e) {
                c.rollback();
                throw e;
            }
        }
    }
}
