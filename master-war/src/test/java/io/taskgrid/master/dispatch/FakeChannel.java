package io.taskgrid.master.dispatch;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A worker stream that records what it was sent and whose readiness a test sets. */
final class FakeChannel implements WorkerChannel {

    volatile boolean ready = true;
    final List<Dispatched> sent = new CopyOnWriteArrayList<>();
    final List<String> cancelledAttemptIds = new CopyOnWriteArrayList<>();
    final List<String> askedBackAttemptIds = new CopyOnWriteArrayList<>();

    @Override
    public boolean isReady() {
        return ready;
    }

    @Override
    public void send(Dispatched assignment) {
        sent.add(assignment);
    }

    @Override
    public void cancel(String taskId, String attemptId) {
        cancelledAttemptIds.add(attemptId);
    }

    @Override
    public void giveBack(List<String> attemptIds) {
        askedBackAttemptIds.addAll(attemptIds);
    }

    List<String> sentTaskIds() {
        return sent.stream().map(Dispatched::taskId).toList();
    }
}
