package io.taskgrid.master.api;

import io.taskgrid.master.dispatch.ConnectedWorker;
import jakarta.json.bind.annotation.JsonbPropertyOrder;

import java.time.Instant;

/** A connected worker as GET /workers shows it. */
@JsonbPropertyOrder({"id", "slots", "running", "draining", "connectedAt", "lastSeenAt"})
public record WorkerView(String id, int slots, int running, boolean draining, Instant connectedAt, Instant lastSeenAt) {

    public static WorkerView of(ConnectedWorker worker) {
        return new WorkerView(worker.id(), worker.slots(), worker.running(), worker.isDraining(), worker.connectedAt(),
                worker.lastSeenAt());
    }
}
