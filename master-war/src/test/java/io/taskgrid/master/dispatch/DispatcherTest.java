package io.taskgrid.master.dispatch;

import io.taskgrid.master.config.TaskgridConfig;
import io.taskgrid.master.task.AgentOutcome;
import io.taskgrid.master.task.Labels;
import io.taskgrid.master.task.NewTask;
import io.taskgrid.master.task.Task;
import io.taskgrid.master.task.TaskIds;
import io.taskgrid.master.task.TaskResult;
import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.task.TestDatabase;
import io.taskgrid.master.task.WriteFence;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** The dispatcher over a real H2 database and fake worker streams: the whole master but the transports. */
class DispatcherTest {

    @TempDir
    Path dir;

    private final WorkerRegistry registry = new WorkerRegistry();
    private TaskgridConfig config = TaskgridConfig.defaults().withLostAfterSeconds(1).withRefusalLimits(3, 2);
    private TaskStore store;
    private Dispatcher dispatcher;

    @BeforeEach
    void start() {
        store = TestDatabase.openStore(dir);
        dispatcher = dispatcherOn(store);
    }

    private Dispatcher dispatcherOn(TaskStore taskStore) {
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

    private ConnectedWorker connect(String id, int slots, FakeChannel channel) throws WorkerIdInUseException {
        return connect(id, slots, Labels.NONE, channel);
    }

    private ConnectedWorker connect(String id, int slots, Labels labels, FakeChannel channel)
            throws WorkerIdInUseException {
        ConnectedWorker worker = new ConnectedWorker(id, "s-" + id, slots, labels, channel, Instant.now());
        registry.register(worker);
        dispatcher.workerConnected(worker, Map.of());
        return worker;
    }

    private String submit(String cmd) throws Exception {
        return dispatcher.submit(TaskIds.next(), new NewTask(cmd, Map.of(), null, null, null, null, null, null, null), "tester", null, null, null)
                .get(10, TimeUnit.SECONDS).task().getId();
    }

    private String submit(String cmd, int priority, Map<String, String> requires) throws Exception {
        return dispatcher.submit(TaskIds.next(), new NewTask(cmd, Map.of(), null, null, null, null, null, priority,
                Labels.of(requires)), "tester", null, null, null).get(10, TimeUnit.SECONDS).task().getId();
    }

    private String state(String taskId) throws Exception {
        return TestDatabase.rows(TestDatabase.h2(dir), "SELECT STATE FROM TG_TASK WHERE ID = '" + taskId + "'").get(0).get(0);
    }

    private static TaskResult exited(int code) {
        return TaskResult.of(AgentOutcome.EXITED, code, "out", false, "", false, null);
    }

    @Test
    void theSecretsGoToTheWorkerInClearAndATaskWhoseSecretsNoLongerOpenFailsWithoutHoldingASlot() throws Exception {
        NewTask secret = new NewTask("echo $TOKEN", Map.of(), null, null, null, null, Map.of("TOKEN", "hunter2"), null,
                null);
        String sealedId = TaskIds.next();
        String opens = dispatcher.submit(sealedId, secret, "tester", null, null, store.seal(sealedId, secret))
                .get(10, TimeUnit.SECONDS).task().getId();
        // Sealed for another task: it does not open for this one, as a value whose key left the file would not.
        String brokenId = TaskIds.next();
        String broken = dispatcher.submit(brokenId, secret, "tester", null, null, store.seal(TaskIds.next(), secret))
                .get(10, TimeUnit.SECONDS).task().getId();
        String after = submit("true");
        FakeChannel channel = new FakeChannel();
        ConnectedWorker worker = connect("w1", 1, channel);

        await().atMost(Duration.ofSeconds(5)).until(() -> channel.sentTaskIds().contains(opens));
        assertThat(channel.sent.get(0).secretEnv()).isEqualTo(Map.of("TOKEN", "hunter2"));
        assertThat(channel.sent.get(0).toString()).doesNotContain("hunter2");
        dispatcher.finished(worker, opens, channel.sent.get(0).attemptId(), exited(0)).get(5, TimeUnit.SECONDS);

        await().atMost(Duration.ofSeconds(5)).until(() -> channel.sentTaskIds().contains(after));
        assertThat(channel.sentTaskIds()).doesNotContain(broken);
        assertThat(state(broken)).isEqualTo("FAILED");
        assertThat(TestDatabase.rows(TestDatabase.h2(dir), "SELECT REASON FROM TG_TASK WHERE ID = '" + broken + "'")
                .get(0).get(0)).startsWith("its secretEnv cannot be opened, so it cannot run: ");
    }

    /**
     * Where masters share the database, a master claims only what its agents have room for (slots and prefetch, less
     * what it holds), asks for more when its queue empties with room left, and gives back the queued tasks its agents
     * no longer have room for once one leaves: the least urgent, newest first.
     */
    @Test
    void aMasterHoldsOnlyWhatItsAgentsHaveRoomForAndAsksForMoreWhenItEmpties() throws Exception {
        java.util.concurrent.atomic.AtomicInteger asked = new java.util.concurrent.atomic.AtomicInteger();
        dispatcher.shareWithOtherMasters(asked::incrementAndGet, attempts -> new TaskStore.Reclaimed(List.of(),
                java.util.Set.of()), java.util.concurrent.Executors.newSingleThreadScheduledExecutor(),
                Duration.ZERO);
        assertThat(dispatcher.room()).as("no agent").isZero();
        FakeChannel channel = new FakeChannel();
        ConnectedWorker worker = new ConnectedWorker("w1", "s-w1", 2, 1, Labels.NONE, channel, Instant.now());
        registry.register(worker);
        dispatcher.workerConnected(worker, Map.of()).get(5, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(5)).until(() -> asked.get() > 0);
        assertThat(dispatcher.room()).as("two slots and one prefetched").isEqualTo(3);

        String first = submit("sleep 1", 5, Map.of());
        String low = submit("sleep 1", 0, Map.of());
        String lowNewer = submit("sleep 1", 0, Map.of());
        String more = submit("sleep 1", 9, Map.of());
        await().atMost(Duration.ofSeconds(5)).until(() -> channel.sent.size() == 3);
        assertThat(dispatcher.room()).as("full: one queued beyond").isEqualTo(-1);
        assertThat(dispatcher.someWorkerRuns(Labels.of(Map.of("gpu", "yes")))).isFalse();
        assertThat(dispatcher.someWorkerRuns(Labels.NONE)).isTrue();

        dispatcher.workerGone(worker, "test");
        List<Task> surplus = dispatcher.takeOutSurplus().get(5, TimeUnit.SECONDS);
        assertThat(surplus).as("the one still queued").hasSize(1);
        assertThat(dispatcher.queued()).isZero();
        List<String> everyOne = new java.util.ArrayList<>(channel.sentTaskIds());
        everyOne.add(surplus.get(0).getId());
        assertThat(everyOne).containsExactlyInAnyOrder(first, low, lowNewer, more);
        assertThat(surplus.get(0).getPriority()).as("the least urgent").isZero();
    }

    /**
     * Attempts of a master that is gone, which no agent brought to another master within the grace period, are
     * settled at once by the housekeeping master that takes them: run again (or LOST past their attempts).
     */
    @Test
    void attemptsOfAGoneMasterThatNoAgentReclaimedRunAgain() throws Exception {
        String id = submit("true");
        FakeChannel first = new FakeChannel();
        connect("w1", 1, first);
        await().atMost(Duration.ofSeconds(5)).until(() -> first.sent.size() == 1);
        await().atMost(Duration.ofSeconds(5)).until(() -> "ASSIGNED".equals(state(id)));
        // Another master's dispatcher takes it: here, a second one on the same database.
        Dispatcher other = new Dispatcher(store, new WorkerRegistry(), config);
        other.startLoop(TestDatabase.threads());
        try {
            List<Task> loaded = store.loadUnfinished(Dispatcher.SPEC_IN_MEMORY_CHARS);
            other.adoptLost(loaded, "a").get(5, TimeUnit.SECONDS);
            await().atMost(Duration.ofSeconds(5)).until(() -> "QUEUED".equals(state(id)));
            assertThat(other.queued()).isEqualTo(1);
        } finally {
            other.stop();
        }
    }

    /**
     * Tasks another master stored for this one are taken with the cancels asked for them meanwhile: a cancelled one
     * ends CANCELLED in the same step and is never handed out, even to a free worker; the other runs.
     */
    @Test
    void aTaskCancelledBeforeItWasTakenFromAnotherMasterIsNeverHandedOut() throws Exception {
        FakeChannel channel = new FakeChannel();
        connect("w1", 2, channel);
        java.time.LocalDateTime now = Task.nowUtc();
        NewTask spec = new NewTask("true", Map.of(), null, null, null, null, null, null, null);
        Task cancelled = Task.submitted(TaskIds.next(), spec, 3, "alice", null, now);
        Task runs = Task.submitted(TaskIds.next(), spec, 3, "alice", null, now);
        store.insertForActive(List.of(cancelled, runs), null, null, c -> { }, c -> { });
        List<Task> waiting = store.claimWaiting(TaskStore.CLAIM_AT_ONCE, Dispatcher.SPEC_IN_MEMORY_CHARS, WriteFence.NONE);
        assertThat(waiting).hasSize(2);

        dispatcher.adopt(waiting, Map.of(cancelled.getId(), "alice")).get(5, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(5)).until(() -> channel.sentTaskIds().contains(runs.getId()));
        await().atMost(Duration.ofSeconds(5)).until(() -> state(cancelled.getId()).equals("CANCELLED"));
        assertThat(channel.sentTaskIds()).doesNotContain(cancelled.getId());
        assertThat(TestDatabase.rows(TestDatabase.h2(dir), "SELECT REASON, CANCELLED_BY FROM TG_TASK WHERE ID = '"
                + cancelled.getId() + "'").get(0)).containsExactly(Task.CANCELLED_WHILE_QUEUED, "alice");
    }

    @Test
    void aSubmittedTaskIsStoredQueuedThenPushedToAFreeWorkerOnceTheAssignmentIsDurable() throws Exception {
        FakeChannel channel = new FakeChannel();
        connect("w1", 1, channel);
        String id = submit("echo hi");
        await().atMost(Duration.ofSeconds(5)).until(() -> channel.sentTaskIds().contains(id));
        assertThat(state(id)).as("durable before it was sent").isEqualTo("ASSIGNED");
        Dispatched sent = channel.sent.get(0);
        assertThat(sent.cmd()).isEqualTo("echo hi");
        assertThat(dispatcher.queued()).isZero();
    }

    @Test
    void aTaskNoWorkerCanRunWaitsWithoutHoldingUpTheQueueAndGoesToTheFirstWorkerThatCan() throws Exception {
        FakeChannel linux = new FakeChannel();
        connect("w1", 2, Labels.of(Map.of("os", "linux")), linux);
        String mac = submit("uname", 9, Map.of("os", "mac"));
        String anywhere = submit("true", 5, Map.of());
        String onLinux = submit("true", 5, Map.of("os", "linux"));
        await().atMost(Duration.ofSeconds(5)).until(() -> linux.sentTaskIds().size() == 2);
        assertThat(linux.sentTaskIds()).containsExactly(anywhere, onLinux);
        assertThat(dispatcher.queued()).isEqualTo(1);
        assertThat(state(mac)).isEqualTo("QUEUED");
        assertThat(registry.whyWaiting(Labels.of(Map.of("os", "mac")))).isEqualTo("no connected worker has os=mac");

        FakeChannel macChannel = new FakeChannel();
        connect("w2", 1, Labels.of(Map.of("os", "mac", "arch", "arm64")), macChannel);
        await().atMost(Duration.ofSeconds(5)).until(() -> macChannel.sentTaskIds().contains(mac));
        assertThat(linux.sentTaskIds()).doesNotContain(mac);
        assertThat(dispatcher.queued()).isZero();
    }

    @Test
    void aLaterUrgentTaskOvertakesEarlierOnesOnABusyWorker() throws Exception {
        FakeChannel channel = new FakeChannel();
        ConnectedWorker worker = connect("w1", 1, channel);
        submit("sleep 1");
        await().atMost(Duration.ofSeconds(5)).until(() -> channel.sent.size() == 1);
        String low1 = submit("low 1", 1, Map.of());
        String low2 = submit("low 2", 1, Map.of());
        String normal = submit("normal", 5, Map.of());
        String urgent = submit("urgent", 9, Map.of());
        List<String> order = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            Dispatched running = channel.sent.get(i);
            dispatcher.finished(worker, running.taskId(), running.attemptId(), exited(0)).get(5, TimeUnit.SECONDS);
            int next = i + 1;
            await().atMost(Duration.ofSeconds(5)).until(() -> channel.sent.size() > next);
            order.add(channel.sent.get(next).taskId());
        }
        assertThat(order).containsExactly(urgent, normal, low1, low2);
    }

    /**
     * A task prefetched behind a long one does not wait it out while another worker stands idle: the holder is asked
     * to give it back, and handing it back then is no refusal; the idle worker runs it.
     */
    @Test
    void aTaskPrefetchedBehindALongOneIsAskedBackWhenAnotherWorkerFallsIdle() throws Exception {
        FakeChannel one = new FakeChannel();
        ConnectedWorker w1 = new ConnectedWorker("w1", "s-w1", 1, 1, Labels.NONE, one, Instant.now());
        registry.register(w1);
        dispatcher.workerConnected(w1, Map.of()).get(5, TimeUnit.SECONDS);
        String slow = submit("sleep 600");
        String held = submit("held");
        String other = submit("other");
        // Two queued, one worker: the first of them goes to w1 to hold; the second stays queued.
        await().atMost(Duration.ofSeconds(5)).until(() -> one.sent.size() == 2);
        assertThat(one.sentTaskIds()).containsExactly(slow, held);
        FakeChannel two = new FakeChannel();
        ConnectedWorker w2 = connect("w2", 1, two);
        await().atMost(Duration.ofSeconds(5)).until(() -> two.sentTaskIds().contains(other));
        assertThat(one.askedBackAttemptIds).as("nothing asked back while the queue fed w2").isEmpty();

        Dispatched ran = two.sent.get(0);
        dispatcher.finished(w2, ran.taskId(), ran.attemptId(), exited(0)).get(5, TimeUnit.SECONDS);
        String heldAttempt = one.sent.get(1).attemptId();
        await().atMost(Duration.ofSeconds(5)).until(() -> one.askedBackAttemptIds.contains(heldAttempt));
        assertThat(one.askedBackAttemptIds).as("the running one is not asked for").containsExactly(heldAttempt);

        assertThat(dispatcher.returned(w1, held, heldAttempt, "asked back").get(5, TimeUnit.SECONDS)).isTrue();
        await().atMost(Duration.ofSeconds(5)).until(() -> two.sentTaskIds().contains(held));
        assertThat(w1.refusedTotal()).as("given back on request: no refusal").isZero();
        assertThat(w1.isDraining()).isFalse();
        assertThat(state(slow)).isEqualTo("ASSIGNED");
        dispatcher.finished(w2, held, two.sent.get(1).attemptId(), exited(0)).get(5, TimeUnit.SECONDS);
        assertThat(state(held)).isEqualTo("SUCCEEDED");
        assertThat(one.askedBackAttemptIds).as("each attempt is asked back once").hasSize(1);
    }

    @Test
    void aTaskGivenBackUnaskedByAWorkerNotDrainingIsARefusal() throws Exception {
        FakeChannel one = new FakeChannel();
        ConnectedWorker w1 = connect("w1", 1, one);
        String id = submit("true");
        await().atMost(Duration.ofSeconds(5)).until(() -> one.sent.size() == 1);
        dispatcher.returned(w1, id, one.sent.get(0).attemptId(), "bounced").get(5, TimeUnit.SECONDS);
        assertThat(w1.refusedTotal()).isEqualTo(1);
    }

    @Test
    void aFinishedAttemptFreesItsSlotAndTheNextTaskGoesOut() throws Exception {
        FakeChannel channel = new FakeChannel();
        ConnectedWorker worker = connect("w1", 1, channel);
        String first = submit("true");
        String second = submit("true");
        await().atMost(Duration.ofSeconds(5)).until(() -> channel.sent.size() == 1);
        assertThat(dispatcher.queued()).isEqualTo(1);
        Dispatched one = channel.sent.get(0);
        assertThat(dispatcher.started(worker, one.taskId(), one.attemptId()).get(5, TimeUnit.SECONDS)).isTrue();
        assertThat(dispatcher.finished(worker, one.taskId(), one.attemptId(), exited(0)).get(5, TimeUnit.SECONDS)).isTrue();
        assertThat(state(first)).isEqualTo("SUCCEEDED");
        await().atMost(Duration.ofSeconds(5)).until(() -> channel.sentTaskIds().contains(second));
        assertThat(dispatcher.finished(worker, one.taskId(), one.attemptId(), exited(1)).get(5, TimeUnit.SECONDS))
                .as("a second report of the same attempt changes nothing").isFalse();
        assertThat(state(first)).isEqualTo("SUCCEEDED");
    }

    @Test
    void beyondTheQueueCapNothingIsAccepted() throws Exception {
        config.withQueueMax(2).withQueuePerCallerShare(1);
        submit("true");
        submit("true");
        assertThatThrownBy(() -> submit("true")).isInstanceOf(ExecutionException.class)
                .hasCauseInstanceOf(Dispatcher.QueueFull.class);
        assertThat(dispatcher.queued()).isEqualTo(2);
    }

    @Test
    void cancelsEndQueuedTasksAtOnceAndStopInFlightOnesOnTheirWorker() throws Exception {
        FakeChannel channel = new FakeChannel();
        ConnectedWorker worker = connect("w1", 1, channel);
        String running = submit("sleep 60");
        String queued = submit("sleep 60");
        await().atMost(Duration.ofSeconds(5)).until(() -> channel.sent.size() == 1);

        Dispatcher.Cancellation forbidden = dispatcher.cancel(queued, "someone-else", false).get(5, TimeUnit.SECONDS);
        assertThat(forbidden.outcome()).isEqualTo(Dispatcher.Cancellation.Outcome.FORBIDDEN);
        Dispatcher.Cancellation now = dispatcher.cancel(queued, "tester", false).get(5, TimeUnit.SECONDS);
        assertThat(now.outcome()).isEqualTo(Dispatcher.Cancellation.Outcome.CANCELLED);
        assertThat(state(queued)).isEqualTo("CANCELLED");

        Dispatcher.Cancellation inFlight = dispatcher.cancel(running, "ops", true).get(5, TimeUnit.SECONDS);
        assertThat(inFlight.outcome()).isEqualTo(Dispatcher.Cancellation.Outcome.IN_FLIGHT);
        await().atMost(Duration.ofSeconds(5)).until(() -> channel.cancelledAttemptIds.contains(channel.sent.get(0).attemptId()));
        Dispatched sent = channel.sent.get(0);
        dispatcher.finished(worker, sent.taskId(), sent.attemptId(), TaskResult.of(AgentOutcome.CANCELLED, -1, "", false,
                "", false, null)).get(5, TimeUnit.SECONDS);
        assertThat(state(running)).isEqualTo("CANCELLED");
        assertThat(dispatcher.cancel(running, "ops", true).get(5, TimeUnit.SECONDS).outcome())
                .isEqualTo(Dispatcher.Cancellation.Outcome.ALREADY_FINAL);
        assertThat(dispatcher.cancel("01a20000-0000-7000-8000-00000000dead", "ops", true).get(5, TimeUnit.SECONDS).outcome())
                .isEqualTo(Dispatcher.Cancellation.Outcome.NOT_FOUND);
    }

    @Test
    void theTasksOfALostWorkerGoToAnotherAfterTheGracePeriod() throws Exception {
        FakeChannel gone = new FakeChannel();
        ConnectedWorker lost = connect("w1", 1, gone);
        String id = submit("true");
        await().atMost(Duration.ofSeconds(5)).until(() -> gone.sent.size() == 1);
        dispatcher.workerGone(lost, "test");
        FakeChannel other = new FakeChannel();
        connect("w2", 1, other);
        assertThat(other.sent).as("not before the grace period").isEmpty();
        await().atMost(Duration.ofSeconds(5)).until(() -> other.sentTaskIds().contains(id));
        assertThat(TestDatabase.rows(TestDatabase.h2(dir), "SELECT OUTCOME FROM TG_ATTEMPT ORDER BY ID"))
                .extracting(row -> row.get(0)).containsExactly("LOST", null);
    }

    @Test
    void aWorkerThatComesBackWithinTheGracePeriodKeepsItsAttempt() throws Exception {
        FakeChannel first = new FakeChannel();
        ConnectedWorker before = connect("w1", 1, first);
        String id = submit("true");
        await().atMost(Duration.ofSeconds(5)).until(() -> first.sent.size() == 1);
        Dispatched held = first.sent.get(0);
        dispatcher.workerGone(before, "blip");
        FakeChannel again = new FakeChannel();
        ConnectedWorker back = new ConnectedWorker("w1", "s-w1", 1, Labels.NONE, again, Instant.now());
        back.claim(held.taskId(), held.attemptId());
        registry.register(back);
        dispatcher.workerConnected(back, Map.of(held.taskId(), held.attemptId()));
        TimeUnit.MILLISECONDS.sleep(1500);
        assertThat(state(id)).isEqualTo("ASSIGNED");
        assertThat(again.cancelledAttemptIds).isEmpty();
        assertThat(dispatcher.finished(back, held.taskId(), held.attemptId(), exited(0)).get(5, TimeUnit.SECONDS)).isTrue();
        assertThat(state(id)).isEqualTo("SUCCEEDED");
    }

    @Test
    void aRestartedMasterTakesOverItsTasksAndGivesInFlightOnesTheirGrace() throws Exception {
        FakeChannel channel = new FakeChannel();
        ConnectedWorker worker = connect("w1", 1, channel);
        String inFlight = submit("true");
        String queued = submit("true");
        await().atMost(Duration.ofSeconds(5)).until(() -> channel.sent.size() == 1);
        dispatcher.stop();
        store.close();
        registry.remove(worker);

        store = TestDatabase.openStore(dir);
        dispatcher = dispatcherOn(store);
        await().atMost(Duration.ofSeconds(5)).until(() -> dispatcher.queued() == 1);
        FakeChannel later = new FakeChannel();
        connect("w2", 2, later);
        await().atMost(Duration.ofSeconds(5)).until(() -> later.sentTaskIds().contains(queued));
        await().atMost(Duration.ofSeconds(5)).until(() -> later.sentTaskIds().contains(inFlight));
    }

    @Test
    void refusalsRequeueTheTaskDrainTheWorkerAndFailATaskPastItsLimit() throws Exception {
        FakeChannel one = new FakeChannel();
        FakeChannel two = new FakeChannel();
        ConnectedWorker w1 = connect("w1", 1, one);
        ConnectedWorker w2 = connect("w2", 1, two);
        String id = submit("true");
        for (int i = 0; i < 3; i++) {
            await().atMost(Duration.ofSeconds(5)).until(() -> one.sent.size() + two.sent.size() > 0);
            FakeChannel holder = one.sent.isEmpty() ? two : one;
            Dispatched d = holder.sent.remove(0);
            dispatcher.refused(holder == one ? w1 : w2, d.taskId(), d.attemptId(), "not today").get(5, TimeUnit.SECONDS);
        }
        assertThat(state(id)).isEqualTo("FAILED");
        assertThat(w1.isDraining() || w2.isDraining()).as("a worker that refused twice in a row is drained").isTrue();
    }

    @Test
    void aSecondRequestWithAKeyStillBeingStoredWaitsAndIsToldSo() throws Exception {
        NewTask spec = new NewTask("true", Map.of(), null, null, null, null, null, null, null);
        CompletableFuture<Dispatcher.Submission> first = dispatcher.submit(TaskIds.next(), spec, "tester", "sha256:k", "h", null);
        CompletableFuture<Dispatcher.Submission> second = dispatcher.submit(TaskIds.next(), spec, "tester", "sha256:k", "h", null);
        assertThat(first.get(5, TimeUnit.SECONDS).keyInUse()).isFalse();
        assertThat(second.get(5, TimeUnit.SECONDS).keyInUse()).isTrue();
        assertThat(dispatcher.queued()).isEqualTo(1);
    }

    @Test
    void aResultTheDatabaseRefusesEndsTheTaskFailedWithAReasonAndTheSlotFree() throws Exception {
        TestDatabase.execute(TestDatabase.h2(dir), "ALTER TABLE TG_TASK ADD CONSTRAINT NO_POISON "
                + "CHECK (STDOUT_TEXT IS NULL OR STDOUT_TEXT NOT LIKE '%poison%')");
        FakeChannel channel = new FakeChannel();
        ConnectedWorker worker = connect("w1", 1, channel);
        String id = submit("true");
        String next = submit("true");
        await().atMost(Duration.ofSeconds(5)).until(() -> channel.sent.size() == 1);
        Dispatched d = channel.sent.get(0);
        boolean applied = dispatcher.finished(worker, d.taskId(), d.attemptId(),
                TaskResult.of(AgentOutcome.EXITED, 0, "poison", false, "", false, null)).get(5, TimeUnit.SECONDS);
        assertThat(applied).isTrue();
        assertThat(TestDatabase.rows(TestDatabase.h2(dir), "SELECT STATE, REASON FROM TG_TASK WHERE ID = '" + id + "'"))
                .singleElement().satisfies(row -> {
                    assertThat(row.get(0)).isEqualTo("FAILED");
                    assertThat(row.get(1)).contains("could not store the result");
                });
        await().atMost(Duration.ofSeconds(5)).until(() -> channel.sentTaskIds().contains(next));
    }

    @Test
    void aRefusalThatEndsTheTaskButCannotBeStoredStillEndsItInTheDatabase() throws Exception {
        // Refuses only the last refusal's attempt row, by the length of the reason the agent gave ("poison-reason").
        TestDatabase.execute(TestDatabase.h2(dir), "ALTER TABLE TG_ATTEMPT ADD CONSTRAINT NOT_THIRTEEN "
                + "CHECK (REASON IS NULL OR LENGTH(REASON) <> 13)");
        FakeChannel one = new FakeChannel();
        FakeChannel two = new FakeChannel();
        ConnectedWorker w1 = connect("w1", 1, one);
        ConnectedWorker w2 = connect("w2", 1, two);
        String id = submit("true");
        boolean applied = false;
        for (int i = 0; i < 3; i++) {   // the task's limit is 3
            await().atMost(Duration.ofSeconds(5)).until(() -> one.sent.size() + two.sent.size() > 0);
            FakeChannel holder = one.sent.isEmpty() ? two : one;
            Dispatched d = holder.sent.remove(0);
            applied = dispatcher.refused(holder == one ? w1 : w2, d.taskId(), d.attemptId(),
                    i < 2 ? "not today" : "poison-reason").get(5, TimeUnit.SECONDS);
        }
        assertThat(applied).isTrue();
        assertThat(TestDatabase.rows(TestDatabase.h2(dir), "SELECT STATE, REASON FROM TG_TASK WHERE ID = '" + id + "'"))
                .singleElement().satisfies(row -> {
                    assertThat(row.get(0)).isEqualTo("FAILED");
                    assertThat(row.get(1)).contains("could not store");
                });
        assertThat(w1.running() + w2.running()).isZero();
    }

    @Test
    void aTaskThatCouldNotBeStoredIsNotDispatched() throws Exception {
        FakeChannel channel = new FakeChannel();
        channel.ready = false;
        connect("w1", 1, channel);
        TestDatabase.execute(TestDatabase.h2(dir), "ALTER TABLE TG_TASK ADD CONSTRAINT NO_BAD CHECK (CMD <> 'bad')");
        assertThatThrownBy(() -> submit("bad")).isInstanceOf(ExecutionException.class);
        channel.ready = true;
        dispatcher.requestDispatch();
        TimeUnit.MILLISECONDS.sleep(300);
        assertThat(channel.sent).isEmpty();
        assertThat(dispatcher.queued()).isZero();
        List<List<String>> rows = TestDatabase.rows(TestDatabase.h2(dir), "SELECT ID FROM TG_TASK");
        assertThat(rows).isEmpty();
    }

    /** A key stored by another request between this one's check and its write is a repeat, not a failure (H2, PostgreSQL). */
    @Test
    void aUniqueViolationOfTheIdempotencyKeyIsAKeyConflictAndNothingElseIs() {
        assertThat(Dispatcher.isKeyConflict(new java.util.concurrent.CompletionException(new java.sql.SQLException(
                "Unique index or primary key violation: \"PUBLIC.PRIMARY_KEY_F ON PUBLIC.TG_IDEMPOTENCY_KEY(IDEMPOTENCY_KEY)\"",
                "23505")))).isTrue();
        assertThat(Dispatcher.isKeyConflict(new java.sql.SQLException(
                "duplicate key value violates unique constraint \"tg_idempotency_key_pkey\"", "23505"))).isTrue();
        assertThat(Dispatcher.isKeyConflict(new java.sql.SQLException("duplicate key on TG_TASK(ID)", "23505"))).isFalse();
        assertThat(Dispatcher.isKeyConflict(new java.sql.SQLException("TG_IDEMPOTENCY_KEY: value too long", "22001")))
                .isFalse();
        assertThat(Dispatcher.isKeyConflict(new IllegalStateException("the master is stopping"))).isFalse();
    }
}
