package io.taskgrid.master.task;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static io.taskgrid.master.task.TaskBuilder.aQueuedTask;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The task list (GET /tasks) against a real H2 file: newest first, the command cut to its preview, and the filter by
 * required labels matching whole {@code key=value} pairs only, never a key or value that merely contains the other.
 */
class TaskListStoreTest {

    @TempDir
    Path dir;

    private TaskStore store;

    @AfterEach
    void close() {
        if (store != null) {
            store.close();
        }
    }

    private String insert(TaskBuilder task) throws Exception {
        Task built = task.build();
        store.insert(built, null, null).get(10, TimeUnit.SECONDS);
        return built.getId();
    }

    @Test
    void labelsFilterWholePairsAndTheListIsNewestFirstWithACutCommand() throws Exception {
        store = TestDatabase.openStore(dir);
        String gpu = insert(aQueuedTask().requires("gpu", "yes"));
        String gpuAndZone = insert(aQueuedTask().requires("gpu", "yes").requires("zone", "a_1"));
        String longer = insert(aQueuedTask().requires("gpu", "yes2").requires("xgpu", "yes"));
        String underscore = insert(aQueuedTask().requires("zone", "ab1"));
        String none = insert(aQueuedTask().cmd("x".repeat(TaskSummary.CMD_PREVIEW_CHARS + 500)));

        assertThat(store.list(null, null, 10)).extracting(TaskSummary::id)
                .containsExactly(none, underscore, longer, gpuAndZone, gpu);
        assertThat(store.list(null, Labels.of(Map.of("gpu", "yes")), null, 10)).extracting(TaskSummary::id)
                .containsExactly(gpuAndZone, gpu);
        assertThat(store.list(null, Labels.of(Map.of("gpu", "yes", "zone", "a_1")), null, 10))
                .extracting(TaskSummary::id).containsExactly(gpuAndZone);
        // '_' is a LIKE wildcard: unescaped, zone=a_1 would match zone=ab1.
        assertThat(store.list(null, Labels.of(Map.of("zone", "a_1")), null, 10)).extracting(TaskSummary::id)
                .containsExactly(gpuAndZone);
        assertThat(store.list(TaskState.RUNNING, Labels.of(Map.of("gpu", "yes")), null, 10)).isEmpty();
        assertThat(store.list(null, Labels.of(Map.of("gpu", "yes")), gpuAndZone, 10)).extracting(TaskSummary::id)
                .containsExactly(gpu);

        TaskSummary cut = store.list(null, null, 1).get(0);
        assertThat(cut.cmdTruncated()).isTrue();
        assertThat(cut.cmd()).hasSize(TaskSummary.CMD_PREVIEW_CHARS);
    }
}
