package io.taskgrid.master.task;

import io.taskgrid.master.metrics.TaskgridMetrics;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every list of task states is the enum's: a state added to the lifecycle and forgotten in one list would be refused by
 * the database, never loaded at a restart, never deleted by retention or never counted. The database's CHECK
 * constraint is written in a migration (migrations do not change once released), so it is held to the enum here.
 */
class TaskStateListsTest {

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
    void theDatabasesCheckConstraintAllowsExactlyTheEnumsStates() throws Exception {
        store = TestDatabase.openStore(dir);
        List<List<String>> rows = TestDatabase.rows(TestDatabase.h2(dir), "SELECT CHECK_CLAUSE FROM "
                + "INFORMATION_SCHEMA.CHECK_CONSTRAINTS WHERE CONSTRAINT_NAME = 'TG_TASK_STATE_CHECK'");
        assertThat(rows).hasSize(1);
        Set<String> allowed = new TreeSet<>();
        Matcher quoted = Pattern.compile("'([A-Z_]+)'").matcher(rows.get(0).get(0));
        while (quoted.find()) {
            allowed.add(quoted.group(1));
        }
        assertThat(allowed).containsExactlyInAnyOrderElementsOf(Arrays.stream(TaskState.values()).map(Enum::name).toList());
    }

    @Test
    void unfinishedAndFinishedSplitTheStatesByTheTransitionTable() {
        assertThat(TaskState.unfinished()).containsExactlyInAnyOrder(TaskState.QUEUED, TaskState.ASSIGNED, TaskState.RUNNING);
        assertThat(TaskState.finished()).hasSize(TaskState.values().length - 3).allMatch(TaskState::isFinal);
        assertThat(TaskState.sqlList(TaskState.unfinished())).isEqualTo("('QUEUED', 'ASSIGNED', 'RUNNING')");
    }

    @Test
    void theFinishedCounterExpectsEveryFinalStateAndNoOther() {
        assertThat(TaskgridMetrics.TASKS_FINISHED.snapshot().keySet()).containsAll(TaskState.finished().stream()
                .map(Enum::name).toList()).doesNotContain("QUEUED", "ASSIGNED", "RUNNING");
    }
}
