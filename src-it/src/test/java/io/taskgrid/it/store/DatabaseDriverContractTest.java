package io.taskgrid.it.store;

import io.taskgrid.master.task.DatabaseDriver;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The one suite every {@link DatabaseDriver} passes, on a real H2 and a real PostgreSQL: what each family's driver
 * promises the stores about the lease's clock, the claim, the wake-up and bounded lock waits. The stores' own suites
 * ({@code ClusterInboxContractTest}, {@code SeveralMastersStoreContractTest}, {@code DispatchLeaseContractTest}) then
 * run the statements built on them against both.
 */
class DatabaseDriverContractTest extends DatabaseContract {

    private static DataSource withRows(String family) throws SQLException {
        DataSource dataSource = database(family);
        try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE T_ROW (ID INT PRIMARY KEY)");
            s.execute("INSERT INTO T_ROW VALUES (1), (2), (3)");
        }
        return dataSource;
    }

    private static Connection lockingRow(DataSource dataSource, int id) throws SQLException {
        Connection c = dataSource.getConnection();
        c.setAutoCommit(false);
        try (PreparedStatement s = c.prepareStatement("SELECT ID FROM T_ROW WHERE ID = ? FOR UPDATE")) {
            s.setInt(1, id);
            s.executeQuery().close();
        }
        return c;
    }

    @ParameterizedTest
    @MethodSource("families")
    void eachFamilyHasItsDriverAndOnlyASharedServerTakesSeveralMasters(String family) throws Exception {
        try (Connection c = database(family).getConnection()) {
            DatabaseDriver driver = DatabaseDriver.of(c);
            assertThat(driver).isSameAs(family.equals("h2") ? DatabaseDriver.H2 : DatabaseDriver.POSTGRESQL);
            assertThat(driver.allowsSeveralMasters()).isEqualTo(family.equals("postgresql"));
        }
    }

    @ParameterizedTest
    @MethodSource("families")
    void theLeasesClockIsTheDatabasesPlusTheMillisecondsGiven(String family) throws Exception {
        try (Connection c = database(family).getConnection();
             PreparedStatement s = c.prepareStatement("SELECT CURRENT_TIMESTAMP, "
                     + DatabaseDriver.of(c).nowPlusMillis())) {
            s.setLong(1, 90_500);
            try (ResultSet r = s.executeQuery()) {
                r.next();
                Timestamp now = r.getTimestamp(1);
                Timestamp later = r.getTimestamp(2);
                assertThat(later.getTime() - now.getTime()).isEqualTo(90_500);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("families")
    void aClaimSkipsTheRowsAnotherClaimHoldsInsteadOfWaitingForThem(String family) throws Exception {
        DataSource dataSource = withRows(family);
        try (Connection other = lockingRow(dataSource, 1); Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            // A driver whose claim waited would fail here rather than hang the suite.
            DatabaseDriver.of(c).waitForLocksAtMost(c, 3000);
            long started = System.nanoTime();
            List<Integer> claimed = new ArrayList<>();
            try (PreparedStatement s = c.prepareStatement("SELECT ID FROM T_ROW ORDER BY ID FETCH FIRST 2 ROWS ONLY "
                    + DatabaseDriver.of(c).claimLock()); ResultSet r = s.executeQuery()) {
                while (r.next()) {
                    claimed.add(r.getInt(1));
                }
            }
            assertThat(claimed).as("row 1 held by the other claim").containsExactly(2, 3);
            assertThat(Duration.ofNanos(System.nanoTime() - started)).as("without waiting for it")
                    .isLessThan(Duration.ofSeconds(2));
            c.rollback();
            other.rollback();
        }
    }

    @ParameterizedTest
    @MethodSource("families")
    void aBoundedLockWaitGivesUpWithTheDatabasesError(String family) throws Exception {
        DataSource dataSource = withRows(family);
        try (Connection other = lockingRow(dataSource, 2); Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            DatabaseDriver driver = DatabaseDriver.of(c);
            driver.waitForLocksAtMost(c, 300);
            long started = System.nanoTime();
            assertThatThrownBy(() -> {
                try (PreparedStatement s = c.prepareStatement("SELECT ID FROM T_ROW WHERE ID = 2 FOR UPDATE")) {
                    s.executeQuery().close();
                }
            }).isInstanceOf(SQLException.class);
            Duration waited = Duration.ofNanos(System.nanoTime() - started);
            // PostgreSQL honours the bound; H2 has only its database-wide lock timeout (10 s in these suites).
            assertThat(waited).isLessThan(family.equals("postgresql") ? Duration.ofSeconds(2) : Duration.ofSeconds(15));
            c.rollback();
            other.rollback();
        }
    }

    @ParameterizedTest
    @MethodSource("families")
    void anAnnouncementWakesAListeningMasterOnceItCommitsAndOnlyThen(String family) throws Exception {
        DataSource dataSource = database(family);
        try (Connection listening = dataSource.getConnection()) {
            StringBuilder why = new StringBuilder();
            Optional<DatabaseDriver.Notifications> notifications = DatabaseDriver.of(listening).listen(listening, why);
            if (family.equals("h2")) {
                assertThat(notifications).as("one master, nobody to tell").isEmpty();
                assertThat(why.toString()).contains("H2");
                return;
            }
            assertThat(notifications).as(why.toString()).isPresent();
            try {
                assertThat(notifications.get().await(Duration.ofMillis(200))).as("nothing announced yet").isFalse();
                try (Connection c = dataSource.getConnection()) {
                    c.setAutoCommit(false);
                    DatabaseDriver.of(c).announce(c);
                    c.rollback();
                    assertThat(notifications.get().await(Duration.ofMillis(300))).as("rolled back").isFalse();
                    DatabaseDriver.of(c).announce(c);
                    c.commit();
                }
                long sent = System.nanoTime();
                assertThat(notifications.get().await(Duration.ofSeconds(5))).as("committed").isTrue();
                assertThat(Duration.ofNanos(System.nanoTime() - sent)).isLessThan(Duration.ofSeconds(1));
            } finally {
                notifications.get().stop();
            }
            try (Connection c = dataSource.getConnection()) {
                c.setAutoCommit(true);
                DatabaseDriver.of(c).announce(c);
            }
            assertThat(notifications.get().await(Duration.ofMillis(300))).as("no longer listening").isFalse();
        }
    }
}
