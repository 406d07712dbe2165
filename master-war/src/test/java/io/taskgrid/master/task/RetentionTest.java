package io.taskgrid.master.task;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.sql.DataSource;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.taskgrid.master.task.TaskBuilder.T0;
import static io.taskgrid.master.task.TaskBuilder.aQueuedTask;
import static io.taskgrid.master.task.TaskBuilder.aRunningTask;
import static org.assertj.core.api.Assertions.assertThat;

/** Retention against a real H2 file, with the migrations applied: what goes, what stays, in how many batches. */
class RetentionTest {

    @TempDir
    Path dir;

    private TaskStore store;

    @AfterEach
    void close() {
        if (store != null) {
            store.close();
        }
    }

    /** A task that ran and ended {@code state} at {@code endedAt}, stored with an attempt and a key. */
    private Task ended(LocalDateTime endedAt, int exitCode, String key) throws Exception {
        Task task = aRunningTask().build();
        task.finished(task.getAttemptId(), TaskResult.of(AgentOutcome.EXITED, exitCode, "out", false, "", false, null),
                endedAt);
        store.insert(task, key, key == null ? null : "hash").get(10, TimeUnit.SECONDS);
        return task;
    }

    private long count(DataSource db, String table) throws Exception {
        return Long.parseLong(TestDatabase.rows(db, "SELECT COUNT(*) FROM " + table).get(0).get(0));
    }

    @Test
    void tasksThatEndedBeforeTheCutoffGoWithTheirAttemptsAndKeysAndNothingElseDoes() throws Exception {
        store = TestDatabase.openStore(dir);
        DataSource db = TestDatabase.h2(dir);
        Task oldSucceeded = ended(T0.minusDays(40), 0, "sha256:old");
        Task oldFailed = ended(T0.minusDays(31), 1, null);
        Task recent = ended(T0.minusDays(29), 0, "sha256:recent");
        Task queued = aQueuedTask().submittedAt(T0.minusDays(90)).build();
        Task running = aRunningTask().submittedAt(T0.minusDays(90)).build();
        store.insert(queued, "sha256:queued", "hash").get(10, TimeUnit.SECONDS);
        store.insert(running, null, null).get(10, TimeUnit.SECONDS);
        Retention retention = new Retention(db);

        int deleted = retention.deleteFinishedBefore(T0.minusDays(30));

        assertThat(deleted).isEqualTo(2);
        assertThat(retention.deletedTotal()).isEqualTo(2);
        assertThat(TestDatabase.rows(db, "SELECT ID FROM TG_TASK ORDER BY ID")).extracting(row -> row.get(0))
                .containsExactlyInAnyOrder(recent.getId(), queued.getId(), running.getId());
        assertThat(TestDatabase.rows(db, "SELECT TASK_ID FROM TG_ATTEMPT")).extracting(row -> row.get(0))
                .containsExactlyInAnyOrder(recent.getId(), running.getId());
        assertThat(TestDatabase.rows(db, "SELECT IDEMPOTENCY_KEY FROM TG_IDEMPOTENCY_KEY")).extracting(row -> row.get(0))
                .containsExactlyInAnyOrder("sha256:recent", "sha256:queued");
        assertThat(store.loadUnfinished(8192)).extracting(Task::getId)
                .containsExactlyInAnyOrder(queued.getId(), running.getId());
        assertThat(oldSucceeded.getId()).isNotEqualTo(oldFailed.getId());
        assertThat(new Retention(db).deleteFinishedBefore(T0.minusDays(30))).as("nothing left to delete").isZero();
    }

    @Test
    void aBacklogLargerThanABatchIsDeletedBatchByBatchUntilNoneIsLeft() throws Exception {
        store = TestDatabase.openStore(dir);
        DataSource db = TestDatabase.h2(dir);
        int n = Retention.BATCH * 2 + 37;
        List<CompletableFuture<Void>> writes = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Task task = aRunningTask().build();
            task.finished(task.getAttemptId(), TaskResult.of(AgentOutcome.EXITED, 0, "", false, "", false, null),
                    T0.minusDays(2).plusSeconds(i));
            writes.add(store.insert(task, null, null));
        }
        Task kept = ended(T0, 0, null);
        CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);

        assertThat(new Retention(db).deleteFinishedBefore(T0.minusDays(1))).isEqualTo(n);
        assertThat(count(db, "TG_TASK")).isEqualTo(1);
        assertThat(count(db, "TG_ATTEMPT")).isEqualTo(1);
        assertThat(TestDatabase.rows(db, "SELECT ID FROM TG_TASK").get(0).get(0)).isEqualTo(kept.getId());
    }

    @Test
    void zeroOrLessKeepsForeverAndAFractionOfADayIsAccepted() {
        assertThat(Retention.keep(0)).isEqualTo(Duration.ZERO);
        assertThat(Retention.keep(-3)).isEqualTo(Duration.ZERO);
        assertThat(Retention.keep(Double.NaN)).isEqualTo(Duration.ZERO);
        assertThat(Retention.keep(30)).isEqualTo(Duration.ofDays(30));
        assertThat(Retention.keep(0.0001)).isEqualTo(Duration.ofMillis(8640));
    }

    @Test
    void theEndTimeIsIndexedForTheSearch() throws Exception {
        store = TestDatabase.openStore(dir);
        assertThat(TestDatabase.rows(TestDatabase.h2(dir), "SELECT INDEX_NAME FROM INFORMATION_SCHEMA.INDEXES "
                + "WHERE TABLE_NAME = 'TG_TASK'")).extracting(row -> row.get(0)).contains("TG_TASK_FINISHED_AT");
    }
}
