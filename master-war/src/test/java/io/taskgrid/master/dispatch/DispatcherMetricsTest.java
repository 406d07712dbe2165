package io.taskgrid.master.dispatch;

import io.taskgrid.master.config.TaskgridConfig;
import io.taskgrid.master.metrics.TaskgridMetrics;
import io.taskgrid.master.task.AgentOutcome;
import io.taskgrid.master.task.Labels;
import io.taskgrid.master.task.NewTask;
import io.taskgrid.master.task.TaskIds;
import io.taskgrid.master.task.TaskResult;
import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.task.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The counters move where the dispatcher decides, by exactly the events that happened: each final state once, each
 * start once, each lost attempt once. The counters are the process's own, so each test compares before and after.
 */
class DispatcherMetricsTest {

    @TempDir
    Path dir;

    private final WorkerRegistry registry = new WorkerRegistry();
    private final TaskgridConfig config = TaskgridConfig.defaults().withLostAfterSeconds(1);
    private TaskStore store;
    private Dispatcher dispatcher;

    @BeforeEach
    void start() {
        store = TestDatabase.openStore(dir);
        dispatcher = new Dispatcher(store, registry, config);
        dispatcher.startLoop(TestDatabase.threads());
        dispatcher.start();
    }

    @AfterEach
    void stop() {
        dispatcher.stop();
        store.close();
    }

    private ConnectedWorker connect(String id, FakeChannel channel) throws WorkerIdInUseException {
        ConnectedWorker worker = new ConnectedWorker(id, "s-" + id, 1, Labels.NONE, channel, Instant.now());
        registry.register(worker);
        dispatcher.workerConnected(worker, Map.of());
        return worker;
    }

    private String submit(String cmd) throws Exception {
        return dispatcher.submit(TaskIds.next(), new NewTask(cmd, Map.of(), null, null, null, null, null, null, null), "tester", null, null, null)
                .get(10, TimeUnit.SECONDS).task().getId();
    }

    private static TaskResult exited(int code) {
        return TaskResult.of(AgentOutcome.EXITED, code, "", false, "", false, null);
    }

    @Test
    void submissionsStartsAndFinalStatesAreEachCountedOnce() throws Exception {
        long submitted = TaskgridMetrics.TASKS_SUBMITTED.get();
        long succeeded = TaskgridMetrics.TASKS_FINISHED.get("SUCCEEDED");
        long failed = TaskgridMetrics.TASKS_FINISHED.get("FAILED");
        long cancelled = TaskgridMetrics.TASKS_FINISHED.get("CANCELLED");
        long dispatchCount = TaskgridMetrics.DISPATCH_LATENCY.snapshot().count();
        long runCount = TaskgridMetrics.RUN_TIME.snapshot().count();

        FakeChannel channel = new FakeChannel();
        ConnectedWorker worker = connect("w1", channel);
        submit("true");
        submit("false");
        String third = submit("sleep 1");
        await().atMost(Duration.ofSeconds(5)).until(() -> TaskgridMetrics.TASKS_SUBMITTED.get() == submitted + 3);
        assertThat(dispatcher.queued()).isEqualTo(2);
        assertThat(dispatcher.inFlight()).isEqualTo(1);

        for (int code = 0; code < 2; code++) {
            int index = code;
            await().atMost(Duration.ofSeconds(5)).until(() -> channel.sent.size() > index);
            Dispatched one = channel.sent.get(index);
            assertThat(dispatcher.started(worker, one.taskId(), one.attemptId()).get(5, TimeUnit.SECONDS)).isTrue();
            assertThat(dispatcher.finished(worker, one.taskId(), one.attemptId(), exited(code))
                    .get(5, TimeUnit.SECONDS)).isTrue();
            // A repeated report changes nothing, and counts nothing.
            assertThat(dispatcher.finished(worker, one.taskId(), one.attemptId(), exited(code))
                    .get(5, TimeUnit.SECONDS)).isFalse();
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> channel.sent.size() == 3);
        assertThat(dispatcher.cancel(third, "tester", false).get(5, TimeUnit.SECONDS).outcome())
                .isEqualTo(Dispatcher.Cancellation.Outcome.IN_FLIGHT);
        Dispatched last = channel.sent.get(2);
        dispatcher.finished(worker, last.taskId(), last.attemptId(),
                TaskResult.of(AgentOutcome.CANCELLED, 0, "", false, "", false, null)).get(5, TimeUnit.SECONDS);

        assertThat(TaskgridMetrics.TASKS_FINISHED.get("SUCCEEDED")).isEqualTo(succeeded + 1);
        assertThat(TaskgridMetrics.TASKS_FINISHED.get("FAILED")).isEqualTo(failed + 1);
        assertThat(TaskgridMetrics.TASKS_FINISHED.get("CANCELLED")).isEqualTo(cancelled + 1);
        assertThat(TaskgridMetrics.DISPATCH_LATENCY.snapshot().count()).as("two STARTED reports")
                .isEqualTo(dispatchCount + 2);
        assertThat(TaskgridMetrics.RUN_TIME.snapshot().count()).as("two tasks that started, one that did not")
                .isEqualTo(runCount + 2);
        assertThat(dispatcher.queued()).isZero();
        assertThat(dispatcher.inFlight()).isZero();
    }

    @Test
    void aLostAttemptIsCountedOnceWhenItsGracePeriodEnds() throws Exception {
        long lost = TaskgridMetrics.ATTEMPTS_LOST.get();
        FakeChannel gone = new FakeChannel();
        ConnectedWorker worker = connect("w1", gone);
        submit("true");
        await().atMost(Duration.ofSeconds(5)).until(() -> gone.sent.size() == 1);
        dispatcher.workerGone(worker, "test");
        assertThat(TaskgridMetrics.ATTEMPTS_LOST.get()).as("not before the grace period").isEqualTo(lost);
        await().atMost(Duration.ofSeconds(5)).until(() -> dispatcher.queued() == 1);
        assertThat(TaskgridMetrics.ATTEMPTS_LOST.get()).isEqualTo(lost + 1);
        assertThat(dispatcher.inFlight()).isZero();
    }

    @Test
    void aLoopHeldUpInOneEventIsReportedStuckAndFreeAgainAfterwards() throws Exception {
        assertThat(dispatcher.loopTrouble(Duration.ofMillis(200))).isEmpty();
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch entered = new CountDownLatch(1);
        // An event that blocks: a dispatch pass that hangs on a worker's stream stands in for any event that never
        // returns.
        WorkerChannel channel = new WorkerChannel() {
            @Override
            public boolean isReady() {
                entered.countDown();
                try {
                    release.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return false;
            }

            @Override
            public void send(Dispatched assignment) {
            }

            @Override
            public void cancel(String taskId, String attemptId) {
            }

            @Override
            public void giveBack(java.util.List<String> attemptIds) {
            }
        };
        ConnectedWorker worker = new ConnectedWorker("w9", "s-w9", 1, Labels.NONE, channel, Instant.now());
        registry.register(worker);
        dispatcher.submit(TaskIds.next(), new NewTask("true", Map.of(), null, null, null, null, null, null, null),
                "tester", null, null, null);
        assertThat(entered.await(5, TimeUnit.SECONDS)).isTrue();
        await().atMost(Duration.ofSeconds(5)).until(() -> dispatcher.loopTrouble(Duration.ofMillis(200)).isPresent());
        assertThat(dispatcher.loopTrouble(Duration.ofMillis(200)).get()).contains("has been running for");
        assertThat(dispatcher.loopTrouble(Duration.ofSeconds(30))).as("within a longer bound").isEmpty();
        release.countDown();
        await().atMost(Duration.ofSeconds(5)).until(() -> dispatcher.loopTrouble(Duration.ofMillis(200)).isEmpty());
        dispatcher.stop();
        assertThat(dispatcher.loopTrouble(Duration.ofSeconds(30))).contains("the dispatcher loop is stopped");
    }
}
