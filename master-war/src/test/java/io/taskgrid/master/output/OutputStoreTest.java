package io.taskgrid.master.output;

import io.taskgrid.master.task.TaskIds;
import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.task.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.sql.DataSource;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A task's output limit holds for the task, not for each of its attempts: a command that prints megabytes and is run
 * again and again (retries, lost workers) leaves one attempt's worth on the master's disk, about the cap per stream.
 * A real H2 file and the real chunk writer.
 */
class OutputStoreTest {

    private static final int LIMIT = 4096;
    private static final int CHUNK = 1024;

    @TempDir
    Path dir;

    private TaskStore tasks;
    private DataSource db;
    private OutputStore store;

    @BeforeEach
    void open() {
        tasks = TestDatabase.openStore(dir);
        db = TestDatabase.h2(dir);
        store = new OutputStore(db, LIMIT, TestDatabase.threads());
    }

    @AfterEach
    void close() {
        store.close();
        tasks.close();
    }

    private String aTask() throws Exception {
        String id = TaskIds.next();
        TestDatabase.execute(db, "INSERT INTO TG_TASK (ID, CMD, STATE, SUBMITTED_AT, MAX_ATTEMPTS, RETRIES, "
                + "ATTEMPT_COUNT, RETRIES_USED, CANCEL_REQUESTED, REFUSALS, STDOUT_TRUNCATED, STDERR_TRUNCATED, PRIORITY) "
                + "VALUES ('" + id + "', 'yes', 'QUEUED', CURRENT_TIMESTAMP, 3, 100, 0, 0, FALSE, 0, FALSE, FALSE, 5)");
        return id;
    }

    /** The attempt becomes its task's current one, running: only such an attempt's output is written. */
    private void runs(String task, String attempt) throws Exception {
        TestDatabase.execute(db, "UPDATE TG_TASK SET STATE = 'RUNNING', WORKER_ID = 'w1', ATTEMPT_ID = '" + attempt + "', "
                + "ATTEMPT_COUNT = ATTEMPT_COUNT + 1 WHERE ID = '" + task + "'");
    }

    /**
     * The attempt, made its task's current one, prints {@code bytes} on both streams, a chunk at a time, each stored
     * before the next.
     */
    private void prints(String task, String attempt, int bytes) throws Exception {
        runs(task, attempt);
        byte[] chunk = new byte[CHUNK];
        Arrays.fill(chunk, (byte) 'x');
        for (long offset = 0; offset < bytes; offset += CHUNK) {
            CompletableFuture<Long> out = store.append(task, attempt, StdStream.STDOUT, offset, chunk);
            CompletableFuture<Long> err = store.append(task, attempt, StdStream.STDERR, offset, chunk);
            out.get(10, TimeUnit.SECONDS);
            err.get(10, TimeUnit.SECONDS);
        }
    }

    private long storedBytes(String task) throws Exception {
        List<List<String>> rows = TestDatabase.rows(db, "SELECT COALESCE(SUM(LENGTH(DATA)), 0) FROM TG_OUTPUT_CHUNK "
                + "WHERE TASK_ID = '" + task + "'");
        return Long.parseLong(rows.get(0).get(0));
    }

    @Test
    void theOutputOfEveryAttemptCountsAgainstTheTasksLimit() throws Exception {
        String task = aTask();
        String last = null;
        for (int attempt = 0; attempt < 5; attempt++) {
            last = TaskIds.next();
            prints(task, last, 16 * CHUNK);
            assertThat(storedBytes(task)).as("after attempt %d", attempt + 1).isLessThanOrEqualTo(2L * LIMIT);
        }
        // What readers see is the latest attempt's output, whole.
        assertThat(store.storedEnd(last, StdStream.STDOUT)).isEqualTo(16L * CHUNK);
        assertThat(TestDatabase.rows(db, "SELECT DISTINCT ATTEMPT_ID FROM TG_OUTPUT_CHUNK WHERE TASK_ID = '" + task
                + "'")).containsExactly(List.of(last));
    }

    @Test
    void aLateChunkOfAnEarlierAttemptStoresNothingAndTakesNothingOfTheLaterOnes() throws Exception {
        String task = aTask();
        String first = TaskIds.next();
        String second = TaskIds.next();
        prints(task, first, 2 * CHUNK);
        prints(task, second, 2 * CHUNK);
        assertThatThrownBy(() -> store.append(task, first, StdStream.STDOUT, 2 * CHUNK, new byte[CHUNK])
                .get(10, TimeUnit.SECONDS)).satisfies(e -> assertThat(e.getMessage())
                .containsAnyOf("a later attempt", "not in flight"));
        assertThat(store.storedEnd(second, StdStream.STDOUT)).isEqualTo(2L * CHUNK);
        assertThat(store.storedEnd(first, StdStream.STDOUT)).isZero();
    }

    @Test
    void aNewMasterDropsTheEarlierAttemptsToo() throws Exception {
        String task = aTask();
        prints(task, TaskIds.next(), 8 * CHUNK);
        store.close();
        store = new OutputStore(db, LIMIT, TestDatabase.threads());
        String next = TaskIds.next();
        prints(task, next, CHUNK);
        assertThat(storedBytes(task)).isEqualTo(2L * CHUNK);
    }

    @Test
    void otherTasksKeepTheirOutput() throws Exception {
        String one = aTask();
        String other = aTask();
        prints(other, TaskIds.next(), 2 * CHUNK);
        prints(one, TaskIds.next(), CHUNK);
        prints(one, TaskIds.next(), CHUNK);
        assertThat(storedBytes(other)).isEqualTo(4L * CHUNK);
        assertThat(storedBytes(one)).isEqualTo(2L * CHUNK);
    }

    @Test
    void outputTheLeasesFenceRefusesIsNotStored() throws Exception {
        String task = aTask();
        runs(task, "a1");
        store.fence(c -> {
            throw new io.taskgrid.master.task.WriteFence.FencedOff("master m no longer holds the dispatch lease");
        });

        CompletableFuture<Long> refused = store.append(task, "a1", StdStream.STDOUT, 0, new byte[] {'x'});

        org.assertj.core.api.Assertions.assertThatThrownBy(() -> refused.get(10, TimeUnit.SECONDS))
                .hasCauseInstanceOf(io.taskgrid.master.task.WriteFence.FencedOff.class);
        org.assertj.core.api.Assertions.assertThat(TestDatabase.rows(db, "SELECT COUNT(*) FROM TG_OUTPUT_CHUNK"))
                .containsExactly(java.util.List.of("0"));
    }
}
