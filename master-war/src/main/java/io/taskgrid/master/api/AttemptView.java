package io.taskgrid.master.api;

import io.taskgrid.master.task.Attempt;
import jakarta.json.bind.annotation.JsonbNillable;
import jakarta.json.bind.annotation.JsonbPropertyOrder;

import java.time.Instant;

/** One dispatch of a task, as the API shows it; {@code outcome} is null while it is in flight. */
@JsonbNillable
@JsonbPropertyOrder({"id", "workerId", "assignedAt", "startedAt", "endedAt", "outcome", "reason"})
public record AttemptView(String id, String workerId, Instant assignedAt, Instant startedAt, Instant endedAt,
                          String outcome, String reason) {

    public static AttemptView of(Attempt attempt) {
        return new AttemptView(attempt.getId(), attempt.getWorkerId(), TaskView.utc(attempt.getAssignedAt()),
                TaskView.utc(attempt.getStartedAt()), TaskView.utc(attempt.getEndedAt()), attempt.getOutcome(),
                attempt.getReason());
    }
}
