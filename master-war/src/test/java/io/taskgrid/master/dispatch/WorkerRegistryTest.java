package io.taskgrid.master.dispatch;

import io.taskgrid.master.task.Labels;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class WorkerRegistryTest {

    private final WorkerRegistry registry = new WorkerRegistry();

    private ConnectedWorker connect(String id, int slots, FakeChannel channel) throws WorkerIdInUseException {
        ConnectedWorker worker = new ConnectedWorker(id, "session-" + id, slots, Labels.NONE, channel, Instant.now());
        registry.register(worker);
        return worker;
    }

    /** The first worker in turn that can take a task, which then takes its turn, as the dispatcher does. */
    private Optional<ConnectedWorker> nextAvailable() {
        Optional<ConnectedWorker> next = registry.availableInTurn().stream().findFirst();
        next.ifPresent(registry::tookTurn);
        return next;
    }

    /** Takes the next available worker and gives it one task, as the dispatcher does. */
    private String dispatchOne(int n) {
        ConnectedWorker worker = nextAvailable().orElseThrow();
        assertThat(worker.reserve("task-" + n, "attempt-" + n)).isTrue();
        return worker.id();
    }

    @Test
    void tasksGoToEveryWorkerInTurn() throws Exception {
        connect("w1", 2, new FakeChannel());
        connect("w2", 2, new FakeChannel());
        connect("w3", 2, new FakeChannel());
        List<String> order = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            order.add(dispatchOne(i));
        }
        assertThat(order).containsExactly("w1", "w2", "w3", "w1", "w2", "w3");
        assertThat(nextAvailable()).isEmpty();
        assertThat(registry.dispatchableSlots()).isZero();
    }

    @Test
    void aFullWorkerIsSkippedAndNothingQueuesOnIt() throws Exception {
        ConnectedWorker busy = connect("busy", 1, new FakeChannel());
        connect("free", 3, new FakeChannel());
        assertThat(busy.reserve("long", "a0")).isTrue();
        List<String> order = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            order.add(dispatchOne(i));
        }
        assertThat(order).containsExactly("free", "free", "free");
        assertThat(busy.reserve("more", "a9")).isFalse();
        assertThat(busy.running()).isEqualTo(1);
    }

    @Test
    void aWorkerWhoseStreamIsNotReadyGetsNothing() throws Exception {
        FakeChannel stalled = new FakeChannel();
        stalled.ready = false;
        connect("stalled", 4, stalled);
        connect("ok", 1, new FakeChannel());
        assertThat(registry.dispatchableSlots()).isEqualTo(1);
        assertThat(nextAvailable()).map(ConnectedWorker::id).contains("ok");
        stalled.ready = true;
        assertThat(registry.dispatchableSlots()).isEqualTo(5);
    }

    @Test
    void aFreedSlotIsAvailableAgainAtOnce() throws Exception {
        ConnectedWorker worker = connect("w1", 1, new FakeChannel());
        assertThat(worker.reserve("t1", "a1")).isTrue();
        assertThat(nextAvailable()).isEmpty();
        assertThat(worker.release("t1", "other-attempt")).isFalse();
        assertThat(worker.release("t1", "a1")).isTrue();
        assertThat(nextAvailable()).contains(worker);
    }

    @Test
    void aSecondConnectionCannotTakeALiveWorkersId() throws Exception {
        ConnectedWorker first = connect("w1", 1, new FakeChannel());
        assertThatThrownBy(() -> connect("w1", 1, new FakeChannel())).isInstanceOf(WorkerIdInUseException.class);
        assertThat(registry.get("w1")).contains(first);
    }

    @Test
    void workersLeaveInAnyOrderAndTheRestKeepTurns() throws Exception {
        ConnectedWorker w1 = connect("w1", 1, new FakeChannel());
        ConnectedWorker w2 = connect("w2", 1, new FakeChannel());
        ConnectedWorker w3 = connect("w3", 1, new FakeChannel());
        assertThat(registry.remove(w2)).isTrue();
        assertThat(registry.remove(w2)).isFalse();
        assertThat(registry.all()).containsExactly(w1, w3);
        assertThat(dispatchOne(1)).isIn("w1", "w3");
        assertThat(registry.remove(w1)).isTrue();
        assertThat(registry.remove(w3)).isTrue();
        assertThat(nextAvailable()).isEmpty();
        assertThat(registry.all()).isEmpty();
    }

    @Test
    void removingAnOldConnectionLeavesTheNewOneWithTheSameId() throws Exception {
        ConnectedWorker old = connect("w1", 1, new FakeChannel());
        registry.remove(old);
        ConnectedWorker fresh = connect("w1", 1, new FakeChannel());
        assertThat(registry.remove(old)).isFalse();
        assertThat(registry.get("w1")).contains(fresh);
    }

    @Test
    void aClosedWorkerRefusesWorkAndHandsBackWhatItHeld() throws Exception {
        ConnectedWorker worker = connect("w1", 2, new FakeChannel());
        worker.reserve("t1", "a1");
        Map<String, String> inFlight = worker.close();
        assertThat(inFlight).containsExactly(Map.entry("t1", "a1"));
        assertThat(worker.reserve("t2", "a2")).isFalse();
        assertThat(worker.canTakeTask()).isFalse();
    }

    @Test
    void aDrainingWorkerGetsNothingNewButKeepsWhatItRuns() throws Exception {
        ConnectedWorker worker = connect("w1", 2, new FakeChannel());
        worker.reserve("t1", "a1");
        worker.drain("test");
        assertThat(worker.canTakeTask()).isFalse();
        assertThat(worker.reserve("t2", "a2")).isFalse();
        assertThat(worker.holds("t1", "a1")).isTrue();
        assertThat(nextAvailable()).isEmpty();
    }
}
