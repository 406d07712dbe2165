package io.taskgrid.master.cluster;

import io.taskgrid.master.task.DatabaseDriver;
import io.taskgrid.master.task.SchemaMigrations;
import io.taskgrid.master.task.TestDatabase;
import io.taskgrid.master.task.WriteFence;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.sql.DataSource;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The dispatch lease's turns, on a real (H2) database that is made to behave like one several masters share, and a
 * clock of the test's own: who becomes active, when a master stops handing out work, when it lets its agents go,
 * when it carries on, and when it is done for.
 */
class MasterRoleTest {

    private static final Duration LEASE = Duration.ofMillis(1500);

    @TempDir
    Path dir;

    private DataSource dataSource;
    private final AtomicLong clock = new AtomicLong(1_000_000_000L);

    @BeforeEach
    void database() {
        dataSource = TestDatabase.h2(dir);
        SchemaMigrations.migrate(dataSource);
    }

    @Test
    void oneMasterIsActiveTheOtherStandsByAndTakesOverWhenTheFirstGivesTheLeaseUp() {
        Turns turnsA = new Turns();
        Turns turnsB = new Turns();
        MasterRole a = role("a", shared(), turnsA);
        MasterRole b = role("b", shared(), turnsB);

        a.join();
        b.join();

        assertThat(a.state()).isEqualTo(MasterRole.State.ACTIVE);
        assertThat(a.mayDispatch()).isTrue();
        assertThat(turnsA.events).containsExactly("active", "resumed");
        assertThat(b.state()).isEqualTo(MasterRole.State.STANDBY);
        assertThat(b.mayDispatch()).isFalse();
        assertThat(b.why()).contains("master a holds the dispatch lease");
        b.tick();
        assertThat(b.state()).as("the lease is a's until it runs out").isEqualTo(MasterRole.State.STANDBY);

        a.stop();
        b.tick();

        assertThat(b.state()).isEqualTo(MasterRole.State.ACTIVE);
        assertThat(turnsB.events).containsExactly("active", "resumed");
        assertThat(a.mayDispatch()).isFalse();
    }

    @Test
    void aStandbyNamesTheMasterThatHoldsTheLeaseNowNotTheOneItSawAtItsStart() {
        MasterRole a = role("a", shared(), new Turns());
        MasterRole b = role("b", shared(), new Turns());
        MasterRole c = role("c", shared(), new Turns());
        a.join();
        b.join();
        c.join();
        assertThat(c.why()).isEqualTo("stands by: master a holds the dispatch lease");

        a.stop();
        b.tick();
        assertThat(b.state()).isEqualTo(MasterRole.State.ACTIVE);
        c.tick();

        assertThat(c.state()).isEqualTo(MasterRole.State.STANDBY);
        assertThat(c.why()).isEqualTo("stands by: master b holds the dispatch lease");
    }

    @Test
    void aStandbyTakesOverOnceTheLeaseRunsOutAndTheFormerHolderIsDeposedAndFencedOff() throws Exception {
        Turns turnsA = new Turns();
        MasterRole a = role("a", shared(), turnsA);
        MasterRole b = role("b", shared(), new Turns());
        a.join();
        b.join();
        WriteFence fenceOfA = a.fence();
        check(fenceOfA);

        // a stands still (a long pause): its own clock says its lease is over, so it hands out nothing...
        clock.addAndGet(LEASE.toNanos());
        assertThat(a.mayDispatch()).as("without a turn, by the clock alone").isFalse();
        // ...and in the database it runs out too, so b takes over.
        Thread.sleep(LEASE.toMillis() + 200);
        b.tick();
        assertThat(b.state()).isEqualTo(MasterRole.State.ACTIVE);

        assertThatThrownBy(() -> check(fenceOfA)).as("a's writes are refused in the database")
                .isInstanceOf(WriteFence.FencedOff.class).hasMessageContaining("master a no longer holds");
        check(b.fence());

        a.tick();
        assertThat(a.state()).isEqualTo(MasterRole.State.DEPOSED);
        assertThat(a.why()).contains("master b holds the dispatch lease");
        assertThat(turnsA.events).containsExactly("active", "resumed", "deposed");
        a.tick();
        assertThat(a.state()).as("for good").isEqualTo(MasterRole.State.DEPOSED);
    }

    @Test
    void aMasterCutOffFromItsDatabaseStopsHandingOutThenLetsItsAgentsGoAndCarriesOnWhenNoOneTookOver() {
        Turns turns = new Turns();
        Cuttable database = new Cuttable(shared());
        MasterRole a = role("a", database, turns);
        a.join();
        role("b", shared(), new Turns()).join();
        a.tick();

        database.cut = true;
        a.tick();
        assertThat(a.state()).as("the lease is still good by the clock").isEqualTo(MasterRole.State.ACTIVE);
        clock.addAndGet(LEASE.toNanos());
        assertThat(a.mayDispatch()).isFalse();
        a.tick();
        assertThat(a.state()).isEqualTo(MasterRole.State.SUSPENDED);
        assertThat(turns.events).containsExactly("active", "resumed");
        clock.addAndGet(LEASE.toNanos() / 2);
        a.tick();
        assertThat(a.state()).as("b was alive: it may take over, and the agents must find it")
                .isEqualTo(MasterRole.State.AWAY);
        assertThat(turns.events).containsExactly("active", "resumed", "away");

        database.cut = false;
        a.tick();

        assertThat(a.state()).isEqualTo(MasterRole.State.ACTIVE);
        assertThat(a.mayDispatch()).isTrue();
        assertThat(turns.events).containsExactly("active", "resumed", "away", "back", "resumed");
    }

    @Test
    void aMasterAloneOnItsDatabaseKeepsItsAgentsThroughAnOutage() {
        Turns turns = new Turns();
        Cuttable database = new Cuttable(shared());
        MasterRole a = role("a", database, turns);
        a.join();
        a.tick();

        database.cut = true;
        clock.addAndGet(LEASE.toNanos() * 10);
        a.tick();
        a.tick();

        assertThat(a.state()).isEqualTo(MasterRole.State.SUSPENDED);
        assertThat(a.why()).contains("no other master was alive");
        assertThat(turns.events).as("no one could take over: letting the agents go would only cost them")
                .containsExactly("active", "resumed");
        database.cut = false;
        a.tick();
        assertThat(a.mayDispatch()).isTrue();
    }

    @Test
    void aRenewalAfterTheLeaseLapsedAsksForADispatchPassEvenIfTheMasterNeverLookedSuspended() {
        Turns turns = new Turns();
        MasterRole a = role("a", shared(), turns);
        a.join();

        clock.addAndGet(LEASE.toNanos() + 1);
        assertThat(a.mayDispatch()).isFalse();
        a.tick();

        assertThat(a.mayDispatch()).isTrue();
        assertThat(turns.events).as("passes in the lapse handed out nothing: one more now")
                .containsExactly("active", "resumed", "resumed");
    }

    @Test
    void aStandbyTakingOverTakesNoChangesUntilItHasLoadedTheTasksAndRenewsMeanwhile() throws Exception {
        java.util.concurrent.CountDownLatch loading = new java.util.concurrent.CountDownLatch(1);
        Turns turnsB = new Turns() {
            @Override
            public void becameActive() {
                super.becameActive();
                try {
                    loading.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        MasterRole a = role("a", shared(), new Turns());
        MasterRole b = role("b", shared(), turnsB);
        a.join();
        b.join();
        b.start(runnable -> {
            Thread thread = new Thread(runnable);
            thread.setDaemon(true);
            return thread;
        });
        try {
            a.stop();
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
                    .until(() -> turnsB.events.contains("active"));

            assertThat(b.state()).isEqualTo(MasterRole.State.ACTIVE);
            assertThat(b.mayDispatch()).as("still loading").isFalse();
            assertThat(b.why()).contains("taking over");
            long epoch = new DispatchLease(dataSource, Duration.ofSeconds(2)).holder().orElseThrow().epoch();
            Thread.sleep(LEASE.toMillis() + 500);
            assertThat(new DispatchLease(dataSource, Duration.ofSeconds(2)).holder().orElseThrow())
                    .as("renewed while loading: the lease has not run out").returns(false, LeaseStore.Holder::expired)
                    .returns(epoch, LeaseStore.Holder::epoch);

            loading.countDown();
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
                    .until(() -> b.mayDispatch() && turnsB.events.contains("resumed"));
            assertThat(turnsB.events).as("a dispatch pass once loaded").startsWith("active", "resumed");
        } finally {
            loading.countDown();
            b.halt();
        }
    }

    @Test
    void aWriteTheFenceRefusedDeposesTheMaster() {
        Turns turns = new Turns();
        MasterRole a = role("a", shared(), turns);
        a.join();

        a.fencedOff("master a no longer holds the dispatch lease");

        assertThat(a.state()).isEqualTo(MasterRole.State.DEPOSED);
        assertThat(a.mayDispatch()).isFalse();
        assertThat(turns.events).containsExactly("active", "resumed", "deposed");
    }

    @Test
    void onTheEmbeddedDatabaseTheMasterTakesTheLeaseWhateverItRecords() throws Exception {
        DispatchLease lease = new DispatchLease(dataSource, Duration.ofSeconds(2));
        assertThat(lease.acquire("crashed-master", Duration.ofMinutes(5))).isPresent();

        MasterRole a = role("a", lease, new Turns());
        a.join();

        assertThat(a.state()).as("H2 is opened by one process only: the holder recorded is a remnant")
                .isEqualTo(MasterRole.State.ACTIVE);
        assertThat(lease.holder()).map(LeaseStore.Holder::id).contains("a");
    }

    @Test
    void aMasterThatFailsToTakeOverIsDeposedNotLeftHalfActive() {
        Turns failing = new Turns();
        failing.failToStart = true;
        MasterRole a = role("a", shared(), failing);

        assertThatThrownBy(a::join).hasMessageContaining("port taken");

        assertThat(a.state()).isEqualTo(MasterRole.State.DEPOSED);
        assertThat(a.mayDispatch()).isFalse();
    }

    /**
     * Where each master holds a lease of its own, every one is active at once; one whose lease ran out and was taken
     * from it (by the housekeeping master, or by one an agent brought its attempts to) learns at its next renewal that
     * it is done for, and its fence refuses its writes.
     */
    @Test
    void onLeasesOfTheirOwnEveryMasterIsActiveAndOneWhoseRunOutLeaseWasTakenIsDeposed() throws Exception {
        Turns turnsA = new Turns();
        Cuttable leaseOfA = own("a");
        MasterRole a = role("a", leaseOfA, turnsA);
        MasterRole b = role("b", own("b"), new Turns());
        a.join();
        b.join();
        assertThat(a.mayDispatch()).isTrue();
        assertThat(b.mayDispatch()).isTrue();
        WriteFence fenceOfA = a.fence();

        leaseOfA.cut = true;
        for (int i = 0; i < 4; i++) {
            Thread.sleep(LEASE.toMillis() / 2);
            b.tick();
        }
        MasterLeases leases = new MasterLeases(dataSource, Duration.ofSeconds(2));
        List<MasterLeases.RunOut> runOut = leases.runOut();
        assertThat(runOut).extracting(MasterLeases.RunOut::master).as("b renewed its own").containsExactly("a");
        assertThat(leases.takeFrom(runOut.get(0))).isTrue();
        leaseOfA.cut = false;
        a.tick();

        assertThat(a.state()).isEqualTo(MasterRole.State.DEPOSED);
        assertThat(a.why()).contains("taken from it");
        assertThat(turnsA.events).endsWith("deposed");
        assertThatThrownBy(() -> check(fenceOfA)).isInstanceOf(WriteFence.FencedOff.class);
        assertThat(b.mayDispatch()).isTrue();
    }

    /** Master {@code id}'s own lease on this H2 database, behaving as on a database several masters share. */
    private Cuttable own(String id) {
        return new Cuttable(DispatchLease.forMaster(dataSource, Duration.ofSeconds(2), id)) {
            @Override
            public DatabaseDriver driver() {
                return DatabaseDriver.POSTGRESQL;
            }
        };
    }

    private MasterRole role(String id, LeaseStore lease, Turns turns) {
        return new MasterRole(id, lease, LEASE, clock::get, turns);
    }

    /** The lease on this H2 database, behaving as on a database several masters share. */
    private LeaseStore shared() {
        return new Cuttable(new DispatchLease(dataSource, Duration.ofSeconds(2))) {
            @Override
            public DatabaseDriver driver() {
                return DatabaseDriver.POSTGRESQL;
            }
        };
    }

    private void check(WriteFence fence) throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            fence.check(c);
            c.rollback();
        }
    }

    private static class Turns implements MasterRole.Listener {
        final List<String> events = new java.util.concurrent.CopyOnWriteArrayList<>();
        boolean failToStart;

        @Override
        public void becameActive() {
            events.add("active");
            if (failToStart) {
                throw new IllegalStateException("port taken");
            }
        }

        @Override
        public void away() {
            events.add("away");
        }

        @Override
        public void back() {
            events.add("back");
        }

        @Override
        public void resumed() {
            events.add("resumed");
        }

        @Override
        public void deposed(String why) {
            events.add("deposed");
        }
    }

    /** A lease store whose database can be cut off: every call fails while {@link #cut}. */
    private static class Cuttable implements LeaseStore {
        private final LeaseStore real;
        volatile boolean cut;

        Cuttable(LeaseStore real) {
            this.real = real;
        }

        private void reachable() throws SQLException {
            if (cut) {
                throw new java.sql.SQLTransientConnectionException("connection refused");
            }
        }

        @Override
        public DatabaseDriver driver() throws SQLException {
            return real.driver();
        }

        @Override
        public OptionalLong acquire(String me, Duration lease) throws SQLException {
            reachable();
            return real.acquire(me, lease);
        }

        @Override
        public long takeOver(String me, Duration lease) throws SQLException {
            reachable();
            return real.takeOver(me, lease);
        }

        @Override
        public boolean renew(String me, long epoch, Duration lease) throws SQLException {
            reachable();
            return real.renew(me, epoch, lease);
        }

        @Override
        public void release(String me, long epoch) throws SQLException {
            reachable();
            real.release(me, epoch);
        }

        @Override
        public Optional<Holder> holder() throws SQLException {
            reachable();
            return real.holder();
        }

        @Override
        public void seen(String me, String role) throws SQLException {
            reachable();
            real.seen(me, role);
        }

        @Override
        public int othersSeenWithin(String me, Duration within) throws SQLException {
            reachable();
            return real.othersSeenWithin(me, within);
        }

        @Override
        public WriteFence fence(String me, long epoch) {
            return real.fence(me, epoch);
        }
    }
}
