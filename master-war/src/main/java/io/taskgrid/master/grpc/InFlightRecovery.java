package io.taskgrid.master.grpc;

import io.taskgrid.master.task.TaskStore;

/**
 * A fresh master has no connected workers, so no attempt that was in flight before it started can still report to it
 * in a way it would accept: each one is settled as LOST.
 */
final class InFlightRecovery {

    private final TaskStore store;

    InFlightRecovery(TaskStore store) {
        this.store = store;
    }

    int loseAllInFlight(String reason) {
        int lost = 0;
        for (Object[] attempt : store.inFlightAttempts()) {
            if (store.markLost((String) attempt[0], (String) attempt[1], reason)) {
                lost++;
            }
        }
        return lost;
    }
}
