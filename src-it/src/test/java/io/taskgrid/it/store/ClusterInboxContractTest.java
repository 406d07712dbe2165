package io.taskgrid.it.store;

import io.taskgrid.master.cluster.ClusterRequests;
import io.taskgrid.master.cluster.InboxWakeups;
import io.taskgrid.master.dispatch.Dispatcher;
import io.taskgrid.master.task.DatabaseDriver;
import io.taskgrid.master.task.NewTask;
import io.taskgrid.master.task.Task;
import io.taskgrid.master.task.TaskIds;
import io.taskgrid.master.task.TaskState;
import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.task.WriteFence;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import javax.sql.DataSource;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * What the masters of one database pass to each other through it, on H2 and a real PostgreSQL: tasks a standby stored
 * for the active master, taken exactly once; requests kept until carried out under the fence; the wake-up that makes
 * the active master take them at once (LISTEN/NOTIFY on PostgreSQL).
 */
class ClusterInboxContractTest extends DatabaseContract {

    private static final WriteFence REFUSING = c -> {
        throw new WriteFence.FencedOff("another master holds the lease");
    };

    static List<Task> tasks(int count, String by) {
        List<Task> tasks = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            tasks.add(Task.submitted(TaskIds.next(), new NewTask("echo " + i, Map.of("N", "" + i), null, null, null,
                    null, null, null, null), 3, by, null, Task.nowUtc()));
        }
        return tasks;
    }

    static void storeForActive(TaskStore store, List<Task> tasks, String key) throws SQLException {
        store.insertForActive(tasks, key, key == null ? null : "hash", c -> {
        }, c -> DatabaseDriver.of(c).announce(c));
    }

    @ParameterizedTest
    @MethodSource("families")
    void tasksAStandbyStoredAreTakenOnceAndThenLoadedAsAnyOther(String family) throws Exception {
        TaskStore store = new TaskStore(database(family), null);
        List<Task> stored = tasks(3, "alice");
        storeForActive(store, stored, null);

        assertThat(store.loadUnfinished(8192)).as("not the active master's yet").isEmpty();
        List<Task> taken = store.claimWaiting(TaskStore.CLAIM_AT_ONCE, 8192, WriteFence.NONE);
        assertThat(taken).extracting(Task::getId).containsExactlyElementsOf(stored.stream().map(Task::getId).toList());
        assertThat(taken).allSatisfy(task -> {
            assertThat(task.getState()).isEqualTo(TaskState.QUEUED);
            assertThat(task.getSubmittedBy()).isEqualTo("alice");
        });
        assertThat(taken.get(2).getCmd()).isEqualTo("echo 2");
        assertThat(taken.get(2).getEnv()).containsEntry("N", "2");

        assertThat(store.claimWaiting(TaskStore.CLAIM_AT_ONCE, 8192, WriteFence.NONE)).as("taken once").isEmpty();
        assertThat(store.loadUnfinished(8192)).extracting(Task::getId)
                .containsExactlyElementsOf(stored.stream().map(Task::getId).toList());
    }

    @ParameterizedTest
    @MethodSource("families")
    void aMasterThatLostItsLeaseTakesNothing(String family) throws Exception {
        TaskStore store = new TaskStore(database(family), null);
        storeForActive(store, tasks(2, "alice"), null);

        assertThatThrownBy(() -> store.claimWaiting(TaskStore.CLAIM_AT_ONCE, 8192, REFUSING)).isInstanceOf(WriteFence.FencedOff.class);
        assertThat(store.claimWaiting(TaskStore.CLAIM_AT_ONCE, 8192, WriteFence.NONE)).as("still there for the one that holds it").hasSize(2);
    }

    @ParameterizedTest
    @MethodSource("families")
    void anIdempotencyKeyOneMasterStoredRefusesTheSameKeyOnAnother(String family) throws Exception {
        DataSource dataSource = database(family);
        TaskStore store = new TaskStore(dataSource, null);
        storeForActive(store, tasks(1, "alice"), "sha256:alice-key-1");

        assertThatThrownBy(() -> storeForActive(store, tasks(1, "alice"), "sha256:alice-key-1"))
                .isInstanceOf(SQLException.class)
                .satisfies(e -> assertThat(Dispatcher.isKeyConflict(e)).as("answered as a repeat").isTrue());
        assertThat(store.claimWaiting(TaskStore.CLAIM_AT_ONCE, 8192, WriteFence.NONE)).as("the refused one stored nothing").hasSize(1);
    }

    @ParameterizedTest
    @MethodSource("families")
    void whatTheCapsCheckInTheStoringTransactionStoresNothingWhenItRefuses(String family) throws Exception {
        TaskStore store = new TaskStore(database(family), null);
        storeForActive(store, tasks(2, "alice"), null);
        assertThatThrownBy(() -> store.insertForActive(tasks(3, "alice"), null, null, c -> {
            assertThat(TaskStore.queueCounts(c, "alice")).isEqualTo(new TaskStore.QueueCounts(2, 2));
            assertThat(TaskStore.queueCounts(c, "bob")).isEqualTo(new TaskStore.QueueCounts(2, 0));
            throw new IllegalStateException("over the cap");
        }, c -> DatabaseDriver.of(c).announce(c))).hasMessage("over the cap");
        assertThat(store.claimWaiting(TaskStore.CLAIM_AT_ONCE, 8192, WriteFence.NONE)).hasSize(2);
    }

    /** A store whose writer names master {@code id}: what it claims, it owns. Closed by the caller. */
    static TaskStore ownedBy(DataSource dataSource, String id) {
        return ownedBy(dataSource, id, WriteFence.NONE);
    }

    static TaskStore ownedBy(DataSource dataSource, String id, WriteFence fence) {
        TaskStore store = new TaskStore(dataSource, null);
        store.open(Thread::new);
        store.writer().fence(fence, id, reason -> {
        });
        return store;
    }

    static Map<String, String> owners(DataSource dataSource) throws SQLException {
        Map<String, String> owners = new java.util.HashMap<>();
        try (java.sql.Connection c = dataSource.getConnection();
             java.sql.ResultSet r = c.createStatement().executeQuery("SELECT ID, OWNER FROM TG_TASK")) {
            while (r.next()) {
                owners.put(r.getString(1), String.valueOf(r.getString(2)));
            }
        }
        return owners;
    }

    static List<String> ids(List<Task> tasks) {
        return tasks.stream().map(Task::getId).toList();
    }

    /**
     * Two masters claiming at once take disjoint sets, and neither waits for the other: rows another claim holds are
     * skipped (FOR UPDATE SKIP LOCKED), and taken by no one twice. Here one claim's transaction stands open, holding
     * the ten most urgent rows, while the other claims.
     */
    @ParameterizedTest
    @MethodSource("families")
    void claimsRunningAtOnceTakeDisjointSetsWithoutWaitingForEachOther(String family) throws Exception {
        // H2 locks every row a locking read looks at, not only those it returns; and it serves one master.
        org.junit.jupiter.api.Assumptions.assumeTrue(family.equals("postgresql"), "H2 serves one master: no claims "
                + "at once");
        DataSource dataSource = database(family);
        TaskStore a = ownedBy(dataSource, "a");
        TaskStore b = ownedBy(dataSource, "b");
        try {
            List<Task> stored = tasks(30, "alice");
            storeForActive(a, stored, null);
            List<String> heldByA = new ArrayList<>();
            List<Task> byB;
            long took;
            try (java.sql.Connection open = dataSource.getConnection()) {
                open.setAutoCommit(false);
                try (java.sql.ResultSet r = open.createStatement().executeQuery("SELECT ID FROM TG_TASK ORDER BY "
                        + "PRIORITY DESC, ID FETCH FIRST 10 ROWS ONLY FOR UPDATE")) {
                    while (r.next()) {
                        heldByA.add(r.getString(1));
                    }
                }
                long before = System.nanoTime();
                java.util.concurrent.ExecutorService other = java.util.concurrent.Executors.newSingleThreadExecutor();
                try {
                    // On another thread, so that a claim that waited for the held rows fails here rather than hang.
                    byB = other.submit(() -> b.claimWaiting(100, 8192, WriteFence.NONE)).get(5, TimeUnit.SECONDS);
                } finally {
                    took = System.nanoTime() - before;
                    open.rollback();
                    other.shutdownNow();
                }
            }
            assertThat(heldByA).hasSize(10);
            assertThat(TimeUnit.NANOSECONDS.toMillis(took)).as("skipped the locked rows, did not wait").isLessThan(2000);
            assertThat(ids(byB)).hasSize(20).doesNotContainAnyElementsOf(heldByA);
            List<Task> byA = a.claimWaiting(100, 8192, WriteFence.NONE);
            assertThat(ids(byA)).containsExactlyInAnyOrderElementsOf(heldByA);
            assertThat(b.claimWaiting(100, 8192, WriteFence.NONE)).as("nothing left").isEmpty();
            Map<String, String> owners = owners(dataSource);
            assertThat(owners.values().stream().filter("a"::equals)).hasSize(10);
            assertThat(owners.values().stream().filter("b"::equals)).hasSize(20);
        } finally {
            a.close();
            b.close();
        }
    }

    @ParameterizedTest
    @MethodSource("families")
    void aClaimTakesTheMostUrgentFirstAndNoMoreThanItAsksFor(String family) throws Exception {
        DataSource dataSource = database(family);
        TaskStore store = ownedBy(dataSource, "a");
        try {
            List<Task> stored = new ArrayList<>();
            int[] priorities = {1, 5, 0, 5, 9};
            for (int priority : priorities) {
                stored.add(Task.submitted(TaskIds.next(), new NewTask("echo " + priority, null, null, null, null, null,
                        null, priority, null), 3, "alice", null, Task.nowUtc()));
            }
            // Stored newest first, so that the order the rows lie in is not the order a claim must take them in.
            for (int i = stored.size() - 1; i >= 0; i--) {
                storeForActive(store, List.of(stored.get(i)), null);
            }

            assertThat(ids(store.claimWaiting(1, 8192, WriteFence.NONE))).as("the most urgent")
                    .containsExactly(stored.get(4).getId());
            assertThat(ids(store.claimWaiting(1, 8192, WriteFence.NONE))).as("of equal priorities, the oldest")
                    .containsExactly(stored.get(1).getId());
            assertThat(ids(store.claimWaiting(2, 8192, WriteFence.NONE))).as("no more than asked for")
                    .containsExactlyInAnyOrder(stored.get(3).getId(), stored.get(0).getId());
            assertThat(ids(store.claimWaiting(3, 8192, WriteFence.NONE))).containsExactly(stored.get(2).getId());
        } finally {
            store.close();
        }
    }

    /**
     * On a database one master uses (H2), a master that starts owns from then on every unfinished task a master held
     * before, under whatever id, and loads them; on one masters share, each loads only its own (the housekeeping
     * master hands on those of masters that are gone). What no master claimed yet stays for a claim on both.
     */
    @ParameterizedTest
    @MethodSource("families")
    void aStartingMasterLoadsItsOwnTasksAndOnAloneOnItsDatabaseEveryOneHeld(String family) throws Exception {
        DataSource dataSource = database(family);
        TaskStore before = ownedBy(dataSource, "a");
        TaskStore after = ownedBy(dataSource, "b");
        try {
            List<Task> held = tasks(3, "alice");
            storeForActive(before, held, null);
            assertThat(before.claimWaiting(100, 8192, WriteFence.NONE)).hasSize(3);
            List<Task> waiting = tasks(2, "bob");
            storeForActive(before, waiting, null);

            Map<String, String> owners;
            if (family.equals("h2")) {
                assertThat(ids(after.loadUnfinished(8192))).containsExactlyElementsOf(ids(held));
                owners = owners(dataSource);
                held.forEach(task -> assertThat(owners).containsEntry(task.getId(), "b"));
                assertThat(before.loadUnfinished(8192)).as("taken back by the next to start").hasSize(3);
            } else {
                assertThat(after.loadUnfinished(8192)).as("a's tasks stay a's").isEmpty();
                assertThat(ids(before.loadUnfinished(8192))).containsExactlyElementsOf(ids(held));
                owners = owners(dataSource);
                held.forEach(task -> assertThat(owners).containsEntry(task.getId(), "a"));
            }
            waiting.forEach(task -> assertThat(owners).containsEntry(task.getId(), "null"));
            assertThat(ids(after.claimWaiting(100, 8192, WriteFence.NONE))).containsExactlyElementsOf(ids(waiting));
        } finally {
            before.close();
            after.close();
        }
    }

    /**
     * The active master's own submissions go through its writer: owned by it from the insert on, so no claim takes
     * them a second time, and a master of the version before V9 reads them as taken (ADOPTED).
     */
    @ParameterizedTest
    @MethodSource("families")
    void whatAMasterStoresItselfIsItsOwnAndNoClaimTakesIt(String family) throws Exception {
        DataSource dataSource = database(family);
        TaskStore store = ownedBy(dataSource, "a");
        try {
            Task task = tasks(1, "alice").get(0);
            store.save(task).get(10, TimeUnit.SECONDS);

            assertThat(owners(dataSource)).containsEntry(task.getId(), "a");
            try (java.sql.Connection c = dataSource.getConnection(); java.sql.ResultSet r = c.createStatement()
                    .executeQuery("SELECT ADOPTED FROM TG_TASK")) {
                assertThat(r.next()).isTrue();
                assertThat(r.getBoolean(1)).as("taken, for a master of the version before").isTrue();
            }
            assertThat(store.claimWaiting(100, 8192, WriteFence.NONE)).isEmpty();
            assertThat(ids(store.loadUnfinished(8192))).containsExactly(task.getId());
        } finally {
            store.close();
        }
    }

    /**
     * Rows as a master of the version before V9 leaves them while masters are upgraded one at a time: its own
     * submissions and what it took from standbys are ADOPTED without an owner; they are taken over, not claimed.
     */
    @ParameterizedTest
    @MethodSource("families")
    void tasksAnActiveMasterOfTheVersionBeforeHeldAreTakenOverNotLost(String family) throws Exception {
        // Where masters share the database, migration V10 names an owner for such rows (docs/operations.md: upgrading masters).
        org.junit.jupiter.api.Assumptions.assumeTrue(family.equals("h2"), "one master takes over at start on H2 only");
        DataSource dataSource = database(family);
        TaskStore store = ownedBy(dataSource, "b");
        try {
            List<Task> heldBefore = tasks(2, "alice");
            storeForActive(store, heldBefore, null);
            try (java.sql.Connection c = dataSource.getConnection()) {
                c.createStatement().executeUpdate("UPDATE TG_TASK SET ADOPTED = TRUE");
            }
            List<Task> waiting = tasks(1, "bob");
            storeForActive(store, waiting, null);

            assertThat(ids(store.loadUnfinished(8192))).containsExactlyElementsOf(ids(heldBefore));
            assertThat(ids(store.claimWaiting(100, 8192, WriteFence.NONE))).containsExactlyElementsOf(ids(waiting));
        } finally {
            store.close();
        }
    }

    @ParameterizedTest
    @MethodSource("families")
    void aMasterTheFenceRefusesTakesOverNothing(String family) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(family.equals("h2"), "where masters share the database, one "
                + "loads its own tasks at start and takes over none");
        DataSource dataSource = database(family);
        TaskStore before = ownedBy(dataSource, "a");
        TaskStore refused = ownedBy(dataSource, "b", REFUSING);
        try {
            storeForActive(before, tasks(2, "alice"), null);
            assertThat(before.claimWaiting(100, 8192, WriteFence.NONE)).hasSize(2);

            assertThatThrownBy(() -> refused.loadUnfinished(8192)).hasRootCauseInstanceOf(WriteFence.FencedOff.class);
            assertThat(owners(dataSource).values()).containsOnly("a");
        } finally {
            before.close();
            refused.close();
        }
    }

    /** One of the database's advisory locks, held until the transaction ends. */
    private interface AdvisoryLock {
        void take(DatabaseDriver family, java.sql.Connection c) throws SQLException;
    }

    @ParameterizedTest
    @MethodSource("families")
    void theTokensLockLetsOneMasterCheckAndStoreATokenAtATime(String family) throws Exception {
        oneAtATime(family, DatabaseDriver::lockTokens, DatabaseDriver::lockKeyFile);
    }

    @ParameterizedTest
    @MethodSource("families")
    void theKeyFileLockLetsOneMasterWriteTheSharedKeyFileAtATime(String family) throws Exception {
        oneAtATime(family, DatabaseDriver::lockKeyFile, DatabaseDriver::lockTokens);
    }

    /**
     * A master that froze (or was cut off) while holding the key file lock does not stall the others for long: a waiter
     * gives up after the lock's wait (and its caller answers 503), and PostgreSQL ends the holder's session once it sat
     * idle in its transaction for the holder's limit, which frees the lock; the frozen holder's commit then fails, so
     * nothing it stored lands.
     */
    @ParameterizedTest
    @MethodSource("families")
    void aFrozenHolderOfTheKeyFileLockIsCutOffAndAWaiterGivesUpMeanwhile(String family) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(family.equals("postgresql"), "H2 serves one master: no lock");
        DataSource dataSource = database(family);
        try (java.sql.Connection frozen = dataSource.getConnection()) {
            frozen.setAutoCommit(false);
            DatabaseDriver.of(frozen).lockKeyFile(frozen);
            long frozenAt = System.nanoTime();
            try (java.sql.Connection waiter = dataSource.getConnection()) {
                waiter.setAutoCommit(false);
                long asked = System.nanoTime();
                assertThatThrownBy(() -> DatabaseDriver.of(waiter).lockKeyFile(waiter)).isInstanceOf(SQLException.class)
                        .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("55P03"));
                long waited = (System.nanoTime() - asked) / 1_000_000;
                assertThat(waited).as("gave up after the lock's wait").isBetween(4_000L, 9_000L);
                waiter.rollback();
            }
            long got = -1;
            while (got < 0 && System.nanoTime() - frozenAt < TimeUnit.SECONDS.toNanos(30)) {
                try (java.sql.Connection next = dataSource.getConnection()) {
                    next.setAutoCommit(false);
                    DatabaseDriver.of(next).lockKeyFile(next);
                    got = (System.nanoTime() - frozenAt) / 1_000_000;
                    next.commit();
                } catch (SQLException stillHeld) {
                    // the holder's session is not ended yet
                }
            }
            System.out.printf("[contract] a frozen holder's key file lock was free again %d ms after it was taken%n", got);
            assertThat(got).as("the frozen holder's session ended and the lock with it").isBetween(9_000L, 20_000L);
            assertThatThrownBy(frozen::commit).isInstanceOf(SQLException.class);
        }
    }

    /**
     * While one connection holds {@code lock}, a second connection's {@code lock} waits for its commit (on
     * PostgreSQL; H2 serves one master and locks nothing), and {@code other} is taken at once: the locks are apart.
     */
    private void oneAtATime(String family, AdvisoryLock lock, AdvisoryLock other) throws Exception {
        DataSource dataSource = database(family);
        java.util.concurrent.CountDownLatch held = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        Thread holder = new Thread(() -> {
            try (java.sql.Connection c = dataSource.getConnection()) {
                c.setAutoCommit(false);
                lock.take(DatabaseDriver.of(c), c);
                held.countDown();
                release.await();
                c.commit();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        holder.start();
        assertThat(held.await(10, TimeUnit.SECONDS)).isTrue();
        try (java.sql.Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            long asked = System.nanoTime();
            other.take(DatabaseDriver.of(c), c);
            assertThat(System.nanoTime() - asked).as("the other lock is not held up").isLessThan(TimeUnit.SECONDS.toNanos(2));
            c.commit();
        }
        java.util.concurrent.CompletableFuture<Long> second = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try (java.sql.Connection c = dataSource.getConnection()) {
                c.setAutoCommit(false);
                lock.take(DatabaseDriver.of(c), c);
                c.commit();
                return System.nanoTime();
            } catch (SQLException e) {
                throw new IllegalStateException(e);
            }
        });
        if (family.equals("postgresql")) {
            Thread.sleep(500);
            assertThat(second).as("waits for the first to commit").isNotDone();
        }
        long released = System.nanoTime();
        release.countDown();
        long got = second.get(10, TimeUnit.SECONDS);
        if (family.equals("postgresql")) {
            assertThat(got).isGreaterThan(released);
        }
        holder.join();
    }

    @ParameterizedTest
    @MethodSource("families")
    void askingAgainWhileARequestWaitsJoinsIt(String family) throws Exception {
        ClusterRequests requests = new ClusterRequests(database(family));
        long first = requests.ask(ClusterRequests.Kind.CANCEL, "t1", "alice");
        assertThat(requests.ask(ClusterRequests.Kind.CANCEL, "t1", "alice")).isEqualTo(first);
        assertThat(requests.ask(ClusterRequests.Kind.DRAIN, "t1", "op")).isNotEqualTo(first);
        assertThat(requests.waiting(10)).hasSize(2);
        requests.carriedOut(requests.waiting(10).subList(0, 1), WriteFence.NONE);
        assertThat(requests.ask(ClusterRequests.Kind.CANCEL, "t1", "alice")).as("a new one once carried out")
                .isGreaterThan(first);
    }

    @ParameterizedTest
    @MethodSource("families")
    void requestsComeInOrderAndGoOnlyOnceCarriedOutUnderTheFence(String family) throws Exception {
        ClusterRequests requests = new ClusterRequests(database(family));
        long cancel = requests.ask(ClusterRequests.Kind.CANCEL, "t1", "alice");
        long drain = requests.ask(ClusterRequests.Kind.DRAIN, "w1", "op");

        List<ClusterRequests.Request> waiting = requests.waiting(10);
        assertThat(waiting).containsExactly(new ClusterRequests.Request(cancel, ClusterRequests.Kind.CANCEL, "t1", "alice"),
                new ClusterRequests.Request(drain, ClusterRequests.Kind.DRAIN, "w1", "op"));
        assertThat(requests.waiting(1)).hasSize(1);

        assertThatThrownBy(() -> requests.carriedOut(waiting, REFUSING)).isInstanceOf(WriteFence.FencedOff.class);
        assertThat(requests.waiting(cancel)).as("a deposed master drops no request").isTrue();

        requests.carriedOut(waiting.subList(0, 1), WriteFence.NONE);
        assertThat(requests.waiting(cancel)).isFalse();
        assertThat(requests.waiting(drain)).isTrue();
    }

    @ParameterizedTest
    @MethodSource("families")
    void aChangeStoredForTheActiveMasterWakesItAtOnce(String family) throws Exception {
        DataSource dataSource = database(family);
        ClusterRequests requests = new ClusterRequests(dataSource);
        Semaphore wakes = new Semaphore(0);
        // A sweep far longer than the wait below: on PostgreSQL only the notification can wake it in time.
        try (InboxWakeups wakeups = new InboxWakeups(dataSource, Duration.ofSeconds(30), Duration.ofMillis(200),
                wakes::release, Thread::new).start()) {
            assertThat(wakes.tryAcquire(10, TimeUnit.SECONDS)).as("a first look when it starts").isTrue();
            if (family.equals("postgresql")) {
                assertThat(wakeups.listening()).isTrue();
            }
            wakes.drainPermits();
            long asked = System.nanoTime();
            requests.ask(ClusterRequests.Kind.DRAIN, "w1", "op");
            assertThat(wakes.tryAcquire(2, TimeUnit.SECONDS)).isTrue();
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - asked);
            System.out.println(family + ": woken " + millis + " ms after the commit");
            if (family.equals("postgresql")) {
                assertThat(millis).isLessThan(1000);
            }
        }
    }
}
