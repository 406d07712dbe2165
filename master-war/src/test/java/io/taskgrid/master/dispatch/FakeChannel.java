package io.taskgrid.master.dispatch;

import io.taskgrid.master.task.Task;

import java.util.ArrayList;
import java.util.List;

/** A worker stream that records what it was sent and whose readiness a test sets. */
final class FakeChannel implements WorkerChannel {

    boolean ready = true;
    final List<String> sentTaskIds = new ArrayList<>();
    final List<String> cancelledAttemptIds = new ArrayList<>();

    @Override
    public boolean isReady() {
        return ready;
    }

    @Override
    public void send(Task task, String attemptId) {
        sentTaskIds.add(task.getId());
    }

    @Override
    public void cancel(String taskId, String attemptId) {
        cancelledAttemptIds.add(attemptId);
    }
}
