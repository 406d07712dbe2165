package io.taskgrid.it.store;

import io.taskgrid.master.cluster.DispatchLease;
import io.taskgrid.master.cluster.MasterLeases;
import io.taskgrid.master.task.Labels;
import io.taskgrid.master.task.NewTask;
import io.taskgrid.master.task.Task;
import io.taskgrid.master.task.TaskIds;
import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.task.WriteFence;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static io.taskgrid.it.store.ClusterInboxContractTest.ids;
import static io.taskgrid.it.store.ClusterInboxContractTest.ownedBy;
import static io.taskgrid.it.store.ClusterInboxContractTest.owners;
import static io.taskgrid.it.store.ClusterInboxContractTest.storeForActive;
import static io.taskgrid.it.store.ClusterInboxContractTest.tasks;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * What lets several masters dispatch from one database, each to its own agents, on every database family: a lease per
 * master whose epoch fences its writes; a master that is gone fenced off before its tasks move; its queued tasks handed
 * back at once, its attempts in flight left for their agents to bring to another master and then settled by the
 * housekeeping master; claims that take only what a master's agents can run; give-backs.
 */
class SeveralMastersStoreContractTest extends DatabaseContract {

    private static final Duration LEASE = Duration.ofMillis(1500);

    /** Puts task {@code id} in flight as attempt {@code attemptId} on {@code worker}, as a master's assignment would. */
    private static void inFlight(DataSource dataSource, String id, String attemptId, String worker) throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            try (PreparedStatement s = c.prepareStatement("UPDATE TG_TASK SET STATE = 'RUNNING', ATTEMPT_ID = ?, "
                    + "WORKER_ID = ?, ATTEMPT_COUNT = 1, ASSIGNED_AT = CURRENT_TIMESTAMP, STARTED_AT = CURRENT_TIMESTAMP "
                    + "WHERE ID = ?")) {
                s.setString(1, attemptId);
                s.setString(2, worker);
                s.setString(3, id);
                assertThat(s.executeUpdate()).isEqualTo(1);
            }
            try (PreparedStatement s = c.prepareStatement("INSERT INTO TG_ATTEMPT (ID, TASK_ID, WORKER_ID, ASSIGNED_AT, "
                    + "STARTED_AT) VALUES (?, ?, ?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")) {
                s.setString(1, attemptId);
                s.setString(2, id);
                s.setString(3, worker);
                s.executeUpdate();
            }
        }
    }

    private static void sleepPast(Duration lease) throws InterruptedException {
        Thread.sleep(lease.toMillis() + 700);
    }

    @ParameterizedTest
    @MethodSource("families")
    void anAgentBringsAnAttemptToAnotherMasterOnlyOnceItsMasterLostItsLeaseWhichFencesThatMasterOff(String family)
            throws Exception {
        DataSource dataSource = database(family);
        DispatchLease leaseOfA = DispatchLease.forMaster(dataSource, Duration.ofSeconds(5), "a");
        long epochOfA = leaseOfA.acquire("a", LEASE).orElseThrow();
        TaskStore a = ownedBy(dataSource, "a", leaseOfA.fence("a", epochOfA));
        TaskStore b = ownedBy(dataSource, "b");
        try {
            List<Task> stored = tasks(1, "alice");
            storeForActive(a, stored, null);
            assertThat(a.claimWaiting(10, 8192, WriteFence.NONE)).hasSize(1);
            String id = stored.get(0).getId();
            inFlight(dataSource, id, "att-1", "w1");

            TaskStore.Reclaimed early = b.reclaim(Map.of(id, "att-1"), 8192, WriteFence.NONE);
            assertThat(early.taken()).as("a holds its lease: the attempt is a's").isEmpty();
            assertThat(early.ownerLives()).containsExactly(id);
            assertThat(b.reclaim(Map.of(id, "att-0"), 8192, WriteFence.NONE).taken()).as("not the current attempt")
                    .isEmpty();

            sleepPast(LEASE);
            TaskStore.Reclaimed late = b.reclaim(Map.of(id, "att-1"), 8192, WriteFence.NONE);
            assertThat(ids(late.taken())).containsExactly(id);
            assertThat(late.taken().get(0).getAttemptId()).isEqualTo("att-1");
            assertThat(late.taken().get(0).getWorkerId()).isEqualTo("w1");
            assertThat(owners(dataSource)).containsEntry(id, "b");
            try (Connection c = dataSource.getConnection()) {
                c.setAutoCommit(false);
                assertThatThrownBy(() -> leaseOfA.fence("a", epochOfA).check(c)).as("a writes nothing more")
                        .isInstanceOf(WriteFence.FencedOff.class);
                c.rollback();
            }
            assertThat(leaseOfA.renew("a", epochOfA, LEASE)).as("a learns it was deposed").isFalse();
            assertThat(b.reclaim(Map.of(id, "att-1"), 8192, WriteFence.NONE).taken()).as("once").isEmpty();
        } finally {
            a.close();
            b.close();
        }
    }

    @ParameterizedTest
    @MethodSource("families")
    void theHousekeepingMasterHandsBackAGoneMastersQueueAtOnceAndSettlesItsAttemptsAfterTheirGrace(String family)
            throws Exception {
        DataSource dataSource = database(family);
        DispatchLease leaseOfA = DispatchLease.forMaster(dataSource, Duration.ofSeconds(5), "a");
        long epochOfA = leaseOfA.acquire("a", LEASE).orElseThrow();
        TaskStore a = ownedBy(dataSource, "a");
        TaskStore leader = ownedBy(dataSource, "l");
        MasterLeases leases = new MasterLeases(dataSource, Duration.ofSeconds(5));
        try {
            List<Task> stored = tasks(3, "alice");
            storeForActive(a, stored, null);
            assertThat(a.claimWaiting(10, 8192, WriteFence.NONE)).hasSize(3);
            inFlight(dataSource, stored.get(0).getId(), "att-1", "w1");

            assertThat(leases.runOut()).as("a renews in time").isEmpty();
            assertThat(leader.ownersOfUnfinished()).as("a holds its lease").isEmpty();
            TaskStore.Released whileAlive = leader.releaseTasksOf("a", Duration.ofMillis(500), 8192, WriteFence.NONE);
            assertThat(whileAlive.queued()).isZero();
            assertThat(whileAlive.inFlight()).isEmpty();

            sleepPast(LEASE);
            assertThat(leases.runOut()).extracting(MasterLeases.RunOut::master).containsExactly("a");
            assertThat(leases.takeFrom(leases.runOut().get(0))).isTrue();
            assertThat(leaseOfA.renew("a", epochOfA, LEASE)).isFalse();
            assertThat(leader.ownersOfUnfinished()).containsExactly("a");
            TaskStore.Released first = leader.releaseTasksOf("a", Duration.ofSeconds(1), 8192, WriteFence.NONE);
            assertThat(first.queued()).as("its queue, at once").isEqualTo(2);
            assertThat(first.inFlight()).as("its attempt waits for its agent").isEmpty();
            assertThat(owners(dataSource)).containsEntry(stored.get(0).getId(), "a")
                    .containsEntry(stored.get(1).getId(), "null").containsEntry(stored.get(2).getId(), "null");

            Thread.sleep(1300);
            TaskStore.Released later = leader.releaseTasksOf("a", Duration.ofSeconds(1), 8192, WriteFence.NONE);
            assertThat(ids(later.inFlight())).containsExactly(stored.get(0).getId());
            assertThat(later.inFlight().get(0).getAttemptId()).isEqualTo("att-1");
            assertThat(owners(dataSource)).containsEntry(stored.get(0).getId(), "l");
            assertThat(leader.ownersOfUnfinished()).isEmpty();
        } finally {
            a.close();
            leader.close();
        }
    }

    @ParameterizedTest
    @MethodSource("families")
    void aMasterThatTakesItsLeaseBackFirstKeepsItsTasks(String family) throws Exception {
        DataSource dataSource = database(family);
        DispatchLease leaseOfA = DispatchLease.forMaster(dataSource, Duration.ofSeconds(5), "a");
        leaseOfA.acquire("a", LEASE).orElseThrow();
        TaskStore a = ownedBy(dataSource, "a");
        TaskStore leader = ownedBy(dataSource, "l");
        try {
            storeForActive(a, tasks(2, "alice"), null);
            assertThat(a.claimWaiting(10, 8192, WriteFence.NONE)).hasSize(2);
            sleepPast(LEASE);
            assertThat(leaseOfA.acquire("a", LEASE)).as("a restarted under its id").isPresent();

            TaskStore.Released released = leader.releaseTasksOf("a", Duration.ZERO, 8192, WriteFence.NONE);
            assertThat(released.queued()).isZero();
            assertThat(owners(dataSource).values()).containsOnly("a");
            assertThat(a.loadUnfinished(8192)).hasSize(2);
        } finally {
            a.close();
            leader.close();
        }
    }

    @ParameterizedTest
    @MethodSource("families")
    void aClaimTakesOnlyWhatThisMastersAgentsCanRunAndAGiveBackReturnsItToAll(String family) throws Exception {
        DataSource dataSource = database(family);
        TaskStore a = ownedBy(dataSource, "a");
        TaskStore b = ownedBy(dataSource, "b");
        try {
            Task gpu = Task.submitted(TaskIds.next(), new NewTask("echo gpu", null, null, null, null, null, null, null,
                    Labels.of(Map.of("gpu", "yes"))), 3, "alice", null, Task.nowUtc());
            Task plain = tasks(1, "alice").get(0);
            storeForActive(a, List.of(gpu, plain), null);

            List<Task> byA = a.claimWaiting(10, 8192, WriteFence.NONE, required -> required.isEmpty());
            assertThat(ids(byA)).containsExactly(plain.getId());
            assertThat(a.giveBack(List.of(plain.getId(), gpu.getId()), WriteFence.NONE)).as("only what a holds")
                    .isEqualTo(1);
            assertThat(ids(b.claimWaiting(10, 8192, WriteFence.NONE))).containsExactlyInAnyOrder(plain.getId(),
                    gpu.getId());
            assertThat(a.giveBack(List.of(plain.getId()), WriteFence.NONE)).as("b's now").isZero();
        } finally {
            a.close();
            b.close();
        }
    }
    @ParameterizedTest
    @MethodSource("families")
    void aCancelsClaimWaitsForAnotherMastersClaimThatLookedAtTheTaskInsteadOfSkippingIt(String family)
            throws Exception {
        DataSource dataSource = database(family);
        TaskStore a = ownedBy(dataSource, "a");
        try {
            Task gpu = Task.submitted(TaskIds.next(), new NewTask("echo gpu", null, null, null, null, null, null, null,
                    Labels.of(Map.of("gpu", "h100"))), 3, "alice", null, Task.nowUtc());
            storeForActive(a, List.of(gpu), null);
            // Another master's claim looks at the row (locks it) and does not take it, as a claim of what its agents
            // cannot run does; the cancel's claim of that task comes meanwhile.
            try (Connection claiming = dataSource.getConnection()) {
                claiming.setAutoCommit(false);
                try (PreparedStatement s = claiming.prepareStatement("SELECT ID FROM TG_TASK WHERE ID = ? FOR UPDATE")) {
                    s.setString(1, gpu.getId());
                    s.executeQuery().close();
                }
                java.util.concurrent.CompletableFuture<List<Task>> named = java.util.concurrent.CompletableFuture
                        .supplyAsync(() -> {
                            try {
                                return a.claimNamed(List.of(gpu.getId()), 8192, WriteFence.NONE);
                            } catch (SQLException e) {
                                throw new IllegalStateException(e);
                            }
                        });
                Thread.sleep(300);
                claiming.commit();
                assertThat(ids(named.get(5, java.util.concurrent.TimeUnit.SECONDS)))
                        .as("claimed once the other claim let go, not skipped").containsExactly(gpu.getId());
            }
        } finally {
            a.close();
        }
    }
}
