package io.taskgrid.master.api;

import io.taskgrid.master.dispatch.ConnectedWorker;
import io.taskgrid.master.dispatch.PublishedWorkers;
import jakarta.json.bind.annotation.JsonbNillable;
import jakarta.json.bind.annotation.JsonbPropertyOrder;

import java.time.Instant;
import java.util.Map;

/**
 * A connected worker as GET /workers shows it. {@code drainReason} says why it takes no new task (an operator drained
 * it, the agent is shutting down, or it kept handing tasks back), {@code drainedBy} which API caller drained it (null
 * when it drained itself); {@code refused} counts the tasks it handed back
 * unstarted on this connection. {@code prefetch}: how many tasks it takes beyond its slots, held until a slot frees;
 * {@code running} counts those too (every task it holds that it has not reported finished). {@code master}: the master
 * it is connected to; on a master that stands by, the list is the one the active master published at most a second or
 * two before.
 */
@JsonbNillable
@JsonbPropertyOrder({"id", "master", "labels", "slots", "prefetch", "running", "draining", "drainReason", "drainedBy", "refused", "connectedAt", "lastSeenAt"})
public record WorkerView(String id, String master, Map<String, String> labels, int slots, int prefetch, int running, boolean draining, String drainReason, String drainedBy, int refused,
                         Instant connectedAt, Instant lastSeenAt) {

    public static WorkerView of(ConnectedWorker worker, String master) {
        return new WorkerView(worker.id(), master, worker.labels().asMap(), worker.slots(), worker.prefetch(), worker.running(), worker.isDraining(), worker.drainReason(), worker.drainedBy(),
                worker.refusedTotal(), worker.connectedAt(), worker.lastSeenAt());
    }

    public static WorkerView of(PublishedWorkers.Seen worker) {
        return new WorkerView(worker.id(), worker.master(), worker.labels(), worker.slots(), worker.prefetch(),
                worker.running(), worker.draining(), worker.drainReason(), worker.drainedBy(), worker.refused(),
                worker.connectedAt(), worker.lastSeenAt());
    }
}
