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

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * One submitter must not lock everyone else out of the queue: each caller's unfinished tasks, whatever they require,
 * count against its share ({@code taskgrid.queue.per.caller.share} of {@code taskgrid.queue.max}). A real dispatcher
 * over an H2 file, callers of the test's own, and no worker able to run what the hostile one submits.
 */
class QueueShareTest {

    @TempDir
    Path dir;

    private final WorkerRegistry registry = new WorkerRegistry();
    private TaskStore store;
    private Dispatcher dispatcher;

    @BeforeEach
    void start() {
        store = TestDatabase.openStore(dir);
        // A queue of 8, a quarter each: 2 unfinished tasks per caller.
        dispatcher = dispatcherOn(store, TaskgridConfig.defaults().withQueueMax(8).withQueuePerCallerShare(0.25));
    }

    private Dispatcher dispatcherOn(TaskStore taskStore, TaskgridConfig config) {
        Dispatcher d = new Dispatcher(taskStore, registry, config);
        d.startLoop(TestDatabase.threads());
        d.start();
        return d;
    }

    @AfterEach
    void stop() {
        dispatcher.stop();
        store.close();
    }

    private String submit(String caller, Map<String, String> requires) throws Exception {
        try {
            return dispatcher.submit(TaskIds.next(), new NewTask("true", Map.of(), null, null, null, null, null, null,
                    Labels.of(requires)), caller, null, null, null).get(10, TimeUnit.SECONDS).task().getId();
        } catch (ExecutionException e) {
            throw (Exception) e.getCause();
        }
    }

    @Test
    void aSubmitterOfTasksNoWorkerCanRunFillsOnlyItsShareAndOthersStillSubmit() throws Exception {
        Map<String, String> nobodyHasIt = Map.of("gpu", "none-has-it");
        submit("mallory", nobodyHasIt);
        submit("mallory", nobodyHasIt);
        assertThatThrownBy(() -> submit("mallory", nobodyHasIt))
                .isInstanceOfSatisfying(Dispatcher.CallerShareFull.class, full -> {
                    assertThat(full.unfinished()).isEqualTo(2);
                    assertThat(full.share()).isEqualTo(2);
                });
        // Whatever the tasks require: plain ones count the same.
        assertThatThrownBy(() -> submit("mallory", Map.of())).isInstanceOf(Dispatcher.CallerShareFull.class);

        submit("alice", Map.of());
        submit("bob", nobodyHasIt);
        submit("bob", Map.of());
        assertThat(dispatcher.queued()).isEqualTo(5);
    }

    @Test
    void aTaskThatEndsMakesRoomAndTheShareSurvivesARestart() throws Exception {
        String first = submit("carol", Map.of());
        submit("carol", Map.of());
        assertThatThrownBy(() -> submit("carol", Map.of())).isInstanceOf(Dispatcher.CallerShareFull.class);

        dispatcher.cancel(first, "carol", false).get(10, TimeUnit.SECONDS);
        submit("carol", Map.of());
        assertThatThrownBy(() -> submit("carol", Map.of())).isInstanceOf(Dispatcher.CallerShareFull.class);

        // A new master on the same database counts what it takes over.
        dispatcher.stop();
        dispatcher = dispatcherOn(store, TaskgridConfig.defaults().withQueueMax(8).withQueuePerCallerShare(0.25));
        assertThatThrownBy(() -> submit("carol", Map.of())).isInstanceOf(Dispatcher.CallerShareFull.class);
        submit("dave", Map.of());
    }

    @Test
    void theWholeQueueIsStillTheCapWhenTheShareIsAll() throws Exception {
        dispatcher.stop();
        dispatcher = dispatcherOn(store, TaskgridConfig.defaults().withQueueMax(3).withQueuePerCallerShare(1));
        // A task in flight counts against a share, not against the queue's cap: with no share, one caller queues
        // up to the cap whatever it has running.
        FakeChannel channel = new FakeChannel();
        ConnectedWorker worker = new ConnectedWorker("w1", "s-w1", 1, Labels.NONE, channel, java.time.Instant.now());
        registry.register(worker);
        dispatcher.workerConnected(worker, Map.of());
        String running = submit("erin", Map.of());
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5))
                .until(() -> channel.sentTaskIds().contains(running));
        submit("erin", Map.of());
        submit("erin", Map.of());
        submit("erin", Map.of());
        assertThatThrownBy(() -> submit("erin", Map.of())).isInstanceOf(Dispatcher.QueueFull.class);
    }
}
