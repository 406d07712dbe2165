package io.taskgrid.it.store;

import io.taskgrid.master.task.Labels;
import io.taskgrid.master.task.NewTask;
import io.taskgrid.master.task.Task;
import io.taskgrid.master.task.TaskIds;
import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.task.TaskSummary;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The task list's one SQL statement (GET /tasks) on H2 and a real PostgreSQL: the command cut by SUBSTRING of a
 * CLOB or TEXT column, FETCH FIRST, and the label filter's LIKE on the canonical requirements, '_' escaped.
 */
class TaskListContractTest extends DatabaseContract {

    private static Task requiring(String cmd, Map<String, String> labels) {
        return Task.submitted(TaskIds.next(), new NewTask(cmd, Map.of(), null, null, null, null, null, null,
                Labels.of(labels)), 3, "alice", null, Task.nowUtc());
    }

    @ParameterizedTest
    @MethodSource("families")
    void theListCutsCommandsAndFiltersByWholeLabelPairs(String family) throws Exception {
        TaskStore store = new TaskStore(database(family), null);
        Task gpu = requiring("echo gpu", Map.of("gpu", "yes"));
        Task zone = requiring("echo zone", Map.of("gpu", "yes", "zone", "a_1"));
        Task near = requiring("echo near", Map.of("zone", "ab1", "xgpu", "yes"));
        Task longCmd = requiring("x".repeat(TaskSummary.CMD_PREVIEW_CHARS + 100), Map.of());
        ClusterInboxContractTest.storeForActive(store, List.of(gpu, zone, near, longCmd), null);

        List<TaskSummary> all = store.list(null, null, 100);
        assertThat(all).extracting(TaskSummary::id).startsWith(longCmd.getId(), near.getId(), zone.getId(), gpu.getId());
        assertThat(all.get(0).cmdTruncated()).isTrue();
        assertThat(all.get(0).cmd()).hasSize(TaskSummary.CMD_PREVIEW_CHARS);
        assertThat(store.list(null, null, 2)).hasSize(2);
        assertThat(store.list(null, Labels.of(Map.of("gpu", "yes")), null, 100)).extracting(TaskSummary::id)
                .containsExactly(zone.getId(), gpu.getId());
        assertThat(store.list(null, Labels.of(Map.of("zone", "a_1")), null, 100)).extracting(TaskSummary::id)
                .containsExactly(zone.getId());
        assertThat(store.list(null, Labels.of(Map.of("gpu", "yes", "zone", "a_1")), zone.getId(), 100)).isEmpty();
    }
}
