package io.taskgrid.master.dispatch;

import io.taskgrid.master.task.Labels;
import io.taskgrid.master.task.Task;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static io.taskgrid.master.task.TaskBuilder.aQueuedTask;
import static org.assertj.core.api.Assertions.assertThat;

class LiveTasksTest {

    private final LiveTasks live = new LiveTasks();

    private Task queued(String cmd, int priority, Map<String, String> requires) {
        var builder = aQueuedTask().cmd(cmd).priority(priority);
        requires.forEach(builder::requires);
        Task task = builder.build();
        live.add(task);
        return task;
    }

    /** Takes tasks off the queue the way the dispatcher does for a worker with {@code labels}, until none is left. */
    private List<String> drain(Labels labels) {
        List<String> order = new ArrayList<>();
        for (Optional<Task> next = live.nextFor(labels); next.isPresent(); next = live.nextFor(labels)) {
            Task task = next.get();
            task.assign("w1", "a-" + task.getCmd(), task.getSubmittedAt());
            live.reindex(task);
            order.add(task.getCmd());
        }
        return order;
    }

    @Test
    void higherPriorityGoesFirstAndEachPriorityInSubmissionOrder() {
        queued("low-1", 1, Map.of());
        queued("mid-1", 5, Map.of());
        queued("low-2", 1, Map.of());
        queued("high-1", 9, Map.of());
        queued("mid-2", 5, Map.of());
        queued("high-2", 9, Map.of());
        assertThat(live.queuedCount()).isEqualTo(6);
        assertThat(drain(Labels.NONE)).containsExactly("high-1", "high-2", "mid-1", "mid-2", "low-1", "low-2");
        assertThat(live.queuedCount()).isZero();
    }

    @Test
    void aTaskNoWorkerCanRunDoesNotHoldUpTheTasksBehindIt() {
        queued("needs-mac", 9, Map.of("os", "mac"));
        queued("anywhere", 5, Map.of());
        queued("needs-linux", 5, Map.of("os", "linux"));
        Labels linux = Labels.of(Map.of("os", "linux", "arch", "amd64"));
        assertThat(drain(linux)).containsExactly("anywhere", "needs-linux");
        assertThat(live.queuedCount()).isEqualTo(1);
        assertThat(drain(Labels.NONE)).as("a worker without labels runs only what requires none").isEmpty();
        assertThat(drain(Labels.of(Map.of("os", "mac")))).containsExactly("needs-mac");
    }

    @Test
    void aWorkerTakesTheFirstTaskInDispatchOrderAmongAllItMayRun() {
        queued("gpu-old", 5, Map.of("gpu", "yes"));
        queued("any-new", 5, Map.of());
        queued("gpu-urgent", 8, Map.of("gpu", "yes"));
        assertThat(drain(Labels.of(Map.of("gpu", "yes")))).containsExactly("gpu-urgent", "gpu-old", "any-new");
    }

    @Test
    void aTaskLeavingTheQueueAnyWayIsNoLongerOffered() {
        Task cancelled = queued("cancelled", 5, Map.of("os", "linux"));
        queued("kept", 5, Map.of("os", "linux"));
        cancelled.cancel("tester", cancelled.getSubmittedAt());
        live.reindex(cancelled);
        assertThat(live.get(cancelled.getId())).isEmpty();
        Task removed = queued("removed", 9, Map.of());
        live.remove(removed);
        assertThat(drain(Labels.of(Map.of("os", "linux")))).containsExactly("kept");
    }
}
