package io.taskgrid.master.task;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static io.taskgrid.master.task.TaskBuilder.aQueuedTask;
import static io.taskgrid.master.task.TaskBuilder.aRunningTask;
import static org.assertj.core.api.Assertions.assertThat;

/** The counts by state the dashboard's overview shows (GET /tasks/counts), against a real H2 file. */
class TaskCountsStoreTest {

    @TempDir
    Path dir;

    private TaskStore store;

    @AfterEach
    void close() {
        if (store != null) {
            store.close();
        }
    }

    @Test
    void everyStateIsCountedAndStatesWithoutTasksAreZero() throws Exception {
        store = TestDatabase.openStore(dir);
        assertThat(store.countByState()).hasSize(TaskState.values().length).allSatisfy((state, n) -> assertThat(n).isZero());

        for (int i = 0; i < 3; i++) {
            store.insert(aQueuedTask().build(), null, null).get(10, TimeUnit.SECONDS);
        }
        store.insert(aRunningTask().build(), null, null).get(10, TimeUnit.SECONDS);

        Map<TaskState, Long> counts = store.countByState();
        assertThat(counts.get(TaskState.QUEUED)).isEqualTo(3L);
        assertThat(counts.get(TaskState.RUNNING)).isEqualTo(1L);
        assertThat(counts.get(TaskState.SUCCEEDED)).isZero();
        assertThat(counts.keySet()).containsExactly(TaskState.values());
    }
}
