package io.taskgrid.master.task;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.sql.DataSource;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static io.taskgrid.master.task.TaskBuilder.T0;
import static io.taskgrid.master.task.TaskBuilder.aQueuedTask;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The store against a real H2 database: migrations, the group commit, and the start-up load. */
class TaskStoreTest {

    @TempDir
    Path dir;

    private TaskStore store;

    @AfterEach
    void close() {
        if (store != null) {
            store.close();
        }
    }

    private static void await(CompletableFuture<?> future) throws Exception {
        future.get(10, TimeUnit.SECONDS);
    }

    @Test
    void theMigrationsMakeTheSchemaOnAnEmptyDatabase() throws Exception {
        store = TestDatabase.openStore(dir);
        DataSource db = TestDatabase.h2(dir);
        assertThat(TestDatabase.rows(db, "SELECT \"version\" FROM TG_SCHEMA_HISTORY WHERE \"success\" AND \"version\" IS NOT NULL ORDER BY \"installed_rank\""))
                .extracting(row -> row.get(0)).as("every listed migration, in order")
                .containsExactlyElementsOf(SchemaMigrations.listed(SchemaMigrations.class.getClassLoader()).stream()
                        .map(name -> name.substring(1, name.indexOf("__"))).toList());
        assertThatThrownBy(() -> TestDatabase.execute(db, "INSERT INTO TG_TASK (ID, CMD, STATE, SUBMITTED_AT, PRIORITY) "
                + "VALUES ('p', 'true', 'QUEUED', CURRENT_TIMESTAMP, 10)")).as("priorities are checked")
                .hasMessageContaining("CHECK");
        assertThatThrownBy(() -> TestDatabase.execute(db, "INSERT INTO TG_TASK (ID, CMD, STATE, SUBMITTED_AT) "
                + "VALUES ('x', 'true', 'DONE', CURRENT_TIMESTAMP)")).as("states are checked").hasMessageContaining("CHECK");
        assertThatThrownBy(() -> TestDatabase.execute(db, "INSERT INTO TG_ATTEMPT (ID, TASK_ID, WORKER_ID, ASSIGNED_AT) "
                + "VALUES ('a', 'no-such-task', 'w1', CURRENT_TIMESTAMP)")).as("attempts belong to a task")
                .hasMessageContaining("TG_ATTEMPT_TASK_FK");
    }

    @Test
    void aDatabaseFromBeforeMigrationsIsUpgradedWithItsTasks() throws Exception {
        DataSource db = TestDatabase.h2(dir);
        // The tables as JPA made them in the first release, and tasks written then, with nulls where later columns were.
        TestDatabase.execute(db,
                "CREATE TABLE TG_TASK (ID VARCHAR(36) NOT NULL PRIMARY KEY, CMD CLOB NOT NULL, STATE VARCHAR(16) NOT NULL,"
                        + " ENV_JSON CLOB, CWD VARCHAR(4096), TIMEOUT_SECONDS BIGINT, WORKER_ID VARCHAR(64),"
                        + " ATTEMPT_ID VARCHAR(36), EXIT_CODE INTEGER, STDOUT_TEXT CLOB, STDERR_TEXT CLOB,"
                        + " STDOUT_TRUNCATED BOOLEAN, STDERR_TRUNCATED BOOLEAN, REASON VARCHAR(2000),"
                        + " SUBMITTED_AT TIMESTAMP NOT NULL, ASSIGNED_AT TIMESTAMP, STARTED_AT TIMESTAMP,"
                        + " FINISHED_AT TIMESTAMP, MAX_ATTEMPTS INTEGER, SUBMITTED_BY VARCHAR(128))",
                "CREATE TABLE TG_ATTEMPT (ID VARCHAR(36) NOT NULL PRIMARY KEY, TASK_ID VARCHAR(36) NOT NULL,"
                        + " WORKER_ID VARCHAR(64) NOT NULL, ASSIGNED_AT TIMESTAMP NOT NULL, STARTED_AT TIMESTAMP,"
                        + " ENDED_AT TIMESTAMP, OUTCOME VARCHAR(16), REASON VARCHAR(2000))",
                "CREATE TABLE TG_IDEMPOTENCY_KEY (IDEMPOTENCY_KEY VARCHAR(255) NOT NULL PRIMARY KEY,"
                        + " TASK_ID VARCHAR(36) NOT NULL, REQUEST_HASH VARCHAR(64) NOT NULL, CREATED_AT TIMESTAMP NOT NULL)",
                "INSERT INTO TG_TASK (ID, CMD, STATE, SUBMITTED_AT, STDOUT_TEXT, EXIT_CODE, FINISHED_AT, SUBMITTED_BY)"
                        + " VALUES ('01a20000-0000-7000-8000-000000000001', 'echo old', 'SUCCEEDED', TIMESTAMP '2026-01-01 00:00:00',"
                        + " 'old\n', 0, TIMESTAMP '2026-01-01 00:00:01', 'operator')",
                "INSERT INTO TG_TASK (ID, CMD, STATE, SUBMITTED_AT) VALUES ('01a20000-0000-7000-8000-000000000002',"
                        + " 'echo waiting', 'QUEUED', TIMESTAMP '2026-01-01 00:00:02')",
                "INSERT INTO TG_ATTEMPT (ID, TASK_ID, WORKER_ID, ASSIGNED_AT, OUTCOME) VALUES"
                        + " ('01a20000-0000-7000-8000-0000000000a1', '01a20000-0000-7000-8000-000000000001', 'w1',"
                        + " TIMESTAMP '2026-01-01 00:00:00', 'SUCCEEDED')");

        store = new TaskStore(db, new SecretBox(dir.resolve("secret.key").toString()));
        store.open(TestDatabase.threads());

        List<Task> unfinished = store.loadUnfinished(8192);
        assertThat(unfinished).singleElement().satisfies(task -> {
            assertThat(task.getCmd()).isEqualTo("echo waiting");
            assertThat(task.getState()).isEqualTo(TaskState.QUEUED);
            assertThat(task.getMaxAttempts()).isEqualTo(3);
            assertThat(task.getRetries()).isZero();
            assertThat(task.getRefusals()).isZero();
        });
        assertThat(TestDatabase.rows(db, "SELECT STDOUT_TEXT, CANCEL_REQUESTED, ATTEMPT_COUNT FROM TG_TASK WHERE ID LIKE '%1'"))
                .containsExactly(List.of("old\n", "FALSE", "0"));
        // The upgraded table takes new tasks like a fresh one.
        Task fresh = aQueuedTask().build();
        await(store.insert(fresh, null, null));
        assertThat(store.loadUnfinished(8192)).hasSize(2);
    }

    /**
     * The database's own guard, whatever the master's memory says: a task that has ended is not written again, so the
     * result and output of its attempt never change (here a late "unstorable" rewrite of a stored result).
     */
    @Test
    void aTaskThatHasEndedIsNeverWrittenAgain() throws Exception {
        store = TestDatabase.openStore(dir);
        Task task = aQueuedTask().cmd("echo hi").build();
        await(store.insert(task, null, null));
        task.assign("w1", "attempt-1", T0.plusSeconds(1));
        await(store.save(task));
        Task ended = task.snapshot();
        task.finished("attempt-1", TaskResult.of(AgentOutcome.EXITED, 0, "hi\n", false, "", false, null), T0.plusSeconds(3));
        await(store.save(task));
        await(store.saveUnstorable(ended, "attempt-1", "rewritten after the fact"));

        assertThat(TestDatabase.rows(TestDatabase.h2(dir), "SELECT STATE, STDOUT_TEXT, REASON FROM TG_TASK"))
                .containsExactly(java.util.Arrays.asList("SUCCEEDED", "hi\n", null));
    }

    @Test
    void everyLifecycleChangeIsWrittenAndTheLastOneWins() throws Exception {
        store = TestDatabase.openStore(dir);
        Task task = aQueuedTask().cmd("echo hi").env("A", "1").retries(1).build();
        CompletableFuture<Void> inserted = store.insert(task, "sha256:key", "hash");
        task.assign("w1", "attempt-1", T0.plusSeconds(1));
        CompletableFuture<Void> assigned = store.save(task);
        task.started("attempt-1", T0.plusSeconds(2));
        task.finished("attempt-1", TaskResult.of(AgentOutcome.EXITED, 0, "hi\n", false, "", false, null), T0.plusSeconds(3));
        CompletableFuture<Void> finished = store.save(task);
        await(CompletableFuture.allOf(inserted, assigned, finished));

        DataSource db = TestDatabase.h2(dir);
        assertThat(TestDatabase.rows(db, "SELECT STATE, EXIT_CODE, STDOUT_TEXT, ATTEMPT_ID, WORKER_ID, ENV_JSON, "
                + "STARTED_AT, FINISHED_AT FROM TG_TASK"))
                .containsExactly(List.of("SUCCEEDED", "0", "hi\n", "attempt-1", "w1", "{\"A\":\"1\"}",
                        "2026-11-29 12:00:02", "2026-11-29 12:00:03"));
        assertThat(TestDatabase.rows(db, "SELECT ID, OUTCOME, STARTED_AT, ENDED_AT FROM TG_ATTEMPT"))
                .containsExactly(List.of("attempt-1", "SUCCEEDED", "2026-11-29 12:00:02", "2026-11-29 12:00:03"));
        assertThat(TestDatabase.rows(db, "SELECT IDEMPOTENCY_KEY, TASK_ID FROM TG_IDEMPOTENCY_KEY"))
                .containsExactly(List.of("sha256:key", task.getId()));
        assertThat(store.loadUnfinished(8192)).isEmpty();
    }

    @Test
    void manyChangesGoToTheDatabaseInFewCommits() throws Exception {
        store = TestDatabase.openStore(dir);
        List<CompletableFuture<Void>> writes = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            writes.add(store.insert(aQueuedTask().build(), null, null));
        }
        await(CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)));
        assertThat(store.writer().changes()).isEqualTo(2000);
        assertThat(store.writer().commits()).as("grouped").isLessThan(2000);
        assertThat(store.loadUnfinished(8192)).hasSize(2000);
    }

    @Test
    void aChangeTheDatabaseRefusesFailsAloneAndTheOthersCommit() throws Exception {
        store = TestDatabase.openStore(dir);
        Task first = aQueuedTask().build();
        await(store.insert(first, "sha256:same", "h"));
        List<CompletableFuture<Void>> writes = new ArrayList<>();
        Task good = aQueuedTask().build();
        writes.add(store.insert(good, null, null));
        CompletableFuture<Void> duplicateKey = store.insert(aQueuedTask().build(), "sha256:same", "h");
        Task alsoGood = aQueuedTask().build();
        writes.add(store.insert(alsoGood, null, null));
        await(CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)));
        assertThatThrownBy(() -> duplicateKey.get(10, TimeUnit.SECONDS)).hasMessageContaining("IDEMPOTENCY");
        assertThat(store.loadUnfinished(8192)).extracting(Task::getId)
                .containsExactlyInAnyOrder(first.getId(), good.getId(), alsoGood.getId());
    }

    @Test
    void aResultTheDatabaseRefusedIsStoredAsFailedWithoutOutput() throws Exception {
        store = TestDatabase.openStore(dir);
        Task task = aQueuedTask().build();
        task.assign("w1", "a-1", T0);
        await(store.insert(task, null, null));
        task.finished("a-1", TaskResult.of(AgentOutcome.EXITED, 0, "x", false, "", false, null), T0.plusSeconds(1));
        await(store.saveUnstorable(task.snapshot(), "a-1", "the master could not store this"));
        assertThat(TestDatabase.rows(TestDatabase.h2(dir), "SELECT STATE, REASON, STDOUT_TEXT FROM TG_TASK"))
                .containsExactly(List.of("FAILED", "the master could not store this", ""));
    }

    @Test
    void aLargeSpecIsLeftOutOfMemoryAndReadAtDispatch() throws Exception {
        store = TestDatabase.openStore(dir);
        String big = "echo " + "x".repeat(20_000);
        Task task = aQueuedTask().cmd(big).build();
        await(store.insert(task, null, null));
        Task loaded = store.loadUnfinished(8192).get(0);
        assertThat(loaded.hasSpec()).isFalse();
        store.loadSpec(loaded);
        assertThat(loaded.getCmd()).isEqualTo(big);
    }

    @Test
    void inFlightTasksComeBackWithTheirAttempt() throws Exception {
        store = TestDatabase.openStore(dir);
        Task task = aQueuedTask().build();
        task.assign("w1", "a-1", T0);
        task.started("a-1", T0.plusSeconds(1));
        await(store.insert(task, null, null));
        Task loaded = store.loadUnfinished(8192).get(0);
        assertThat(loaded.getState()).isEqualTo(TaskState.RUNNING);
        assertThat(loaded.currentAttempt().getId()).isEqualTo("a-1");
        assertThat(loaded.currentAttempt().isUnsaved()).isFalse();
        assertThat(store.attemptOwners(List.of("a-1", "nope"))).containsOnlyKeys("a-1")
                .containsValue(new AttemptOwner("a-1", task.getId(), "w1"));
        // The lifecycle goes on from where it was.
        loaded.finished("a-1", TaskResult.of(AgentOutcome.EXITED, 0, "", false, "", false, null), T0.plusSeconds(2));
        await(store.save(loaded));
        assertThat(TestDatabase.rows(TestDatabase.h2(dir), "SELECT OUTCOME FROM TG_ATTEMPT"))
                .containsExactly(List.of("SUCCEEDED"));
    }

    @Test
    void theListOfMigrationsIsTheFolderOfMigrations() throws Exception {
        Path folder = Path.of("src/main/resources/db/migration");
        List<String> files;
        try (Stream<Path> listing = Files.list(folder)) {
            // In version order, as Flyway applies them: V10 after V9.
            files = listing.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".sql"))
                    .sorted(java.util.Comparator.comparingInt(n -> Integer.parseInt(n.substring(1, n.indexOf("__")))))
                    .toList();
        }
        assertThat(SchemaMigrations.listed(getClass().getClassLoader())).containsExactlyElementsOf(files);
    }

    @Test
    void secretsAreSealedForTheirTaskAndOpened() {
        store = TestDatabase.openStore(dir);
        NewTask spec = new NewTask("true", Map.of(), null, null, null, null, Map.of("TOKEN", "hunter2"), null, null);
        String id = TaskIds.next();
        String sealed = store.seal(id, spec);
        assertThat(sealed).doesNotContain("hunter2");
        assertThat(store.openSecretEnv(id, sealed)).isEqualTo(Map.of("TOKEN", "hunter2"));
        assertThat(store.seal(id, new NewTask("true", Map.of(), null, null, null, null, null, null, null))).isNull();
    }

    @Test
    void aTaskThatEndsKeepsNoSecretInTheDatabaseAndWhoCancelledItIsKept() throws Exception {
        store = TestDatabase.openStore(dir);
        DataSource db = TestDatabase.h2(dir);
        NewTask withSecret = new NewTask("true", Map.of(), null, null, null, null, Map.of("TOKEN", "hunter2"), null, null);
        String queuedId = TaskIds.next();
        Task queued = aQueuedTask().id(queuedId).secretEnvSealed(store.seal(queuedId, withSecret)).build();
        String runningId = TaskIds.next();
        TaskBuilder runningBuilder = TaskBuilder.aRunningTask().id(runningId);
        Task running = runningBuilder.secretEnvSealed(store.seal(runningId, withSecret)).build();
        await(store.insert(queued, null, null));
        await(store.insert(running, null, null));
        assertThat(sealedColumn(db, queuedId)).startsWith("tg2:");

        queued.cancel("ops", T0.plusMinutes(1));
        await(store.save(queued));
        running.cancel("alice", T0.plusMinutes(1));
        await(store.save(running));

        assertThat(sealedColumn(db, queuedId)).as("cancelled: ended, no secret kept").isNull();
        assertThat(sealedColumn(db, runningId)).as("still running: its secret stays").isNotNull();
        assertThat(TestDatabase.rows(db, "SELECT CANCELLED_BY FROM TG_TASK WHERE ID = '" + queuedId + "'").get(0))
                .containsExactly("ops");
        Task reloaded = store.loadUnfinished(1000).stream().filter(t -> t.getId().equals(runningId)).findFirst()
                .orElseThrow();
        assertThat(reloaded.getCancelledBy()).as("asked for before a restart, still known after it").isEqualTo("alice");

        assertThat(running.finished(runningBuilder.attemptId(), TaskResult.of(AgentOutcome.EXITED, 0, "", false, "",
                false, null), T0.plusMinutes(2))).isEqualTo(Settled.FINAL);
        await(store.save(running));
        assertThat(sealedColumn(db, runningId)).as("ended with a result: no secret kept").isNull();
    }

    @Test
    void resealMovesEveryStoredSecretToTheCurrentKeyAndTheCountsByKeySaySo() throws Exception {
        store = TestDatabase.openStore(dir);
        NewTask withSecret = new NewTask("true", Map.of(), null, null, null, null, Map.of("TOKEN", "hunter2"), null, null);
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            String id = TaskIds.next();
            ids.add(id);
            await(store.insert(aQueuedTask().id(id).secretEnvSealed(store.seal(id, withSecret)).build(), null, null));
        }
        SecretBox box = new SecretBox(dir.resolve("secret.key").toString());
        String first = box.keys().ring().currentId();
        assertThat(store.sealedValuesByKey()).isEqualTo(Map.of(first, 3L));

        // The store's own box reads the file again at most once a second; a key added through another box of the
        // same file is what an operator editing it does.
        String second = box.keys().addKey();
        Thread.sleep(1100);
        List<String> failed = new ArrayList<>();
        List<TaskStore.Resealed> resealed = store.resealStoredSecrets(failed);

        assertThat(failed).isEmpty();
        assertThat(resealed).extracting(TaskStore.Resealed::taskId).containsExactlyElementsOf(ids);
        assertThat(resealed).allMatch(r -> r.before().startsWith("tg2:" + first + ":")
                && r.after().startsWith("tg2:" + second + ":"));
        assertThat(store.sealedValuesByKey()).isEqualTo(Map.of(second, 3L));
        assertThat(store.openSecretEnv(ids.get(0), resealed.get(0).after())).isEqualTo(Map.of("TOKEN", "hunter2"));
        assertThat(store.resealStoredSecrets(failed)).as("nothing left to move").isEmpty();
    }

    private static String sealedColumn(DataSource db, String id) throws Exception {
        return TestDatabase.rows(db, "SELECT SECRET_ENV_SEALED FROM TG_TASK WHERE ID = '" + id + "'").get(0).get(0);
    }

    @Test
    void aMissingKeyFileIsNotMadeAfreshWhileTheDatabaseHoldsSealedValues() throws Exception {
        store = TestDatabase.openStore(dir);
        store.checkSecretKeys(false, "new-key-file");
        NewTask withSecret = new NewTask("true", Map.of(), null, null, null, null, Map.of("TOKEN", "x"), null, null);
        String id = TaskIds.next();
        await(store.insert(aQueuedTask().id(id).secretEnvSealed(store.seal(id, withSecret)).build(), null, null));
        store.checkSecretKeys(true, "kept-key-file");
        assertThatThrownBy(() -> store.checkSecretKeys(false, "/etc/lost.key")).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("the secret key file /etc/lost.key (taskgrid.secret.key.file) does not exist, but "
                        + "the database holds 1 sealed secretEnv value(s)");
    }

    @Test
    void aWriteTheFenceRefusesIsNotStoredAndTheWriterSaysWhy() throws Exception {
        store = TestDatabase.openStore(dir);
        Task before = aQueuedTask().cmd("echo fenced").build();
        await(store.save(before));
        java.util.List<String> fencedOff = new java.util.concurrent.CopyOnWriteArrayList<>();
        store.writer().fence(c -> {
            throw new WriteFence.FencedOff("master m no longer holds the dispatch lease (epoch 1)");
        }, "m", fencedOff::add);

        Task after = aQueuedTask().cmd("echo after").build();
        CompletableFuture<Void> refused = store.save(after);

        assertThatThrownBy(() -> await(refused)).hasCauseInstanceOf(WriteFence.FencedOff.class);
        assertThat(fencedOff).containsExactly("master m no longer holds the dispatch lease (epoch 1)");
        assertThat(TestDatabase.rows(store.dataSource(), "SELECT CMD FROM TG_TASK ORDER BY CMD"))
                .containsExactly(java.util.List.of("echo fenced"));
    }
}
