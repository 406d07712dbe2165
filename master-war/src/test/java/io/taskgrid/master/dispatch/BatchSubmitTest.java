package io.taskgrid.master.dispatch;

import io.taskgrid.master.config.TaskgridConfig;
import io.taskgrid.master.task.Labels;
import io.taskgrid.master.task.NewTask;
import io.taskgrid.master.task.TaskIds;
import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.task.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.sql.DataSource;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A batch goes in whole or not at all: the queue's cap and the caller's share are checked for all of it, and its
 * tasks are stored in one transaction. A real dispatcher over an H2 file, no workers.
 */
class BatchSubmitTest {

    @TempDir
    Path dir;

    private TaskStore store;
    private DataSource database;
    private Dispatcher dispatcher;

    @BeforeEach
    void start() {
        database = TestDatabase.h2(dir);
        store = TestDatabase.openStore(dir);
        // A queue of 8, half each: 4 unfinished tasks per caller.
        dispatcher = new Dispatcher(store, new WorkerRegistry(),
                TaskgridConfig.defaults().withQueueMax(8).withQueuePerCallerShare(0.5));
        dispatcher.startLoop(TestDatabase.threads());
        dispatcher.start();
    }

    @AfterEach
    void stop() {
        dispatcher.stop();
        store.close();
    }

    private static NewTask task(String cmd) {
        return new NewTask(cmd, Map.of(), null, null, null, null, null, null, Labels.NONE);
    }

    private List<String> submitBatch(String caller, int count, String scopedKey, List<String> ids) throws Exception {
        List<NewTask> specs = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            specs.add(task("echo " + i));
        }
        try {
            return dispatcher.submitBatch(ids, specs, caller, scopedKey, scopedKey == null ? null : store.fingerprint(specs),
                    Collections.nCopies(count, null)).get(10, TimeUnit.SECONDS).ids();
        } catch (ExecutionException e) {
            throw (Exception) e.getCause();
        }
    }

    private static List<String> ids(int count) {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            ids.add(TaskIds.next());
        }
        return ids;
    }

    private long stored() throws Exception {
        return Long.parseLong(TestDatabase.rows(database, "SELECT COUNT(*) FROM TG_TASK").get(0).get(0));
    }

    @Test
    void aBatchIsStoredBeforeItIsAnsweredWithItsIdsInOrder() throws Exception {
        List<String> ids = ids(3);
        assertThat(submitBatch("alice", 3, null, ids)).containsExactlyElementsOf(ids);
        assertThat(stored()).isEqualTo(3);
        assertThat(TestDatabase.rows(database, "SELECT CMD FROM TG_TASK ORDER BY ID"))
                .containsExactly(List.of("echo 0"), List.of("echo 1"), List.of("echo 2"));
        assertThat(dispatcher.queued()).isEqualTo(3);
    }

    @Test
    void aBatchBeyondTheCallersShareIsRefusedWholeAndOneThatFitsIsTaken() throws Exception {
        submitBatch("mallory", 1, null, ids(1));
        assertThatThrownBy(() -> submitBatch("mallory", 4, null, ids(4)))
                .isInstanceOfSatisfying(Dispatcher.CallerShareFull.class, full -> {
                    assertThat(full.unfinished()).isEqualTo(1);
                    assertThat(full.share()).isEqualTo(4);
                });
        assertThat(stored()).isEqualTo(1);
        assertThat(dispatcher.queued()).isEqualTo(1);
        submitBatch("mallory", 3, null, ids(3));
        assertThat(stored()).isEqualTo(4);
    }

    @Test
    void aBatchBeyondTheQueueCapIsRefusedWhole() throws Exception {
        submitBatch("alice", 4, null, ids(4));
        submitBatch("bob", 3, null, ids(3));
        assertThatThrownBy(() -> submitBatch("carol", 2, null, ids(2))).isInstanceOf(Dispatcher.QueueFull.class);
        assertThat(stored()).isEqualTo(7);
        submitBatch("carol", 1, null, ids(1));
        assertThat(stored()).isEqualTo(8);
    }

    @Test
    void aBatchOneOfWhoseRowsTheDatabaseRefusesStoresNothing() throws Exception {
        List<String> ids = ids(4);
        String key = "sha256:batch-key";
        // A key row already holds what the batch's third task would be stored under: the database refuses that row.
        dispatcher.submit(TaskIds.next(), task("other"), "alice", key + "#" + ids.get(0) + "#2", "h", null)
                .get(10, TimeUnit.SECONDS);
        assertThat(stored()).isEqualTo(1);
        assertThatThrownBy(() -> submitBatch("alice", 4, key, ids)).isNotInstanceOf(AssertionError.class);
        assertThat(stored()).isEqualTo(1);
        for (String id : ids) {
            assertThat(store.findHeader(id)).isEmpty();
        }
        // Nothing of it stays in memory either, and the caller's share is free again.
        assertThat(dispatcher.queued()).isEqualTo(1);
        assertThat(submitBatch("alice", 3, null, ids(3))).hasSize(3);
    }

    @Test
    void aKeyedBatchIsFoundAgainInOrderAndItsFingerprintIsNoSingleOnes() throws Exception {
        List<String> ids = ids(4);
        String key = "sha256:another-key";
        submitBatch("alice", 4, key, ids);
        assertThat(store.batchIds(key, ids.get(0), 4)).contains(ids);
        // Asked for more than it holds (another body): not the batch.
        assertThat(store.batchIds(key, ids.get(0), 5)).isEmpty();
        List<NewTask> one = List.of(task("echo 0"));
        assertThat(store.fingerprint(one)).isNotEqualTo(store.fingerprint(one.get(0)));
        assertThat(store.fingerprintMatches(List.of(task("echo 0"), task("echo 1")), store.fingerprint(
                List.of(task("echo 0"), task("echo 1"))))).isTrue();
        assertThat(store.fingerprintMatches(List.of(task("echo 1"), task("echo 0")), store.fingerprint(
                List.of(task("echo 0"), task("echo 1"))))).isFalse();
    }
}
