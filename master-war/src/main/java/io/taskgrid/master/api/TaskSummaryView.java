package io.taskgrid.master.api;

import io.taskgrid.master.task.TaskSummary;
import jakarta.json.bind.annotation.JsonbNillable;
import jakarta.json.bind.annotation.JsonbPropertyOrder;

import java.time.Instant;

/**
 * A task in a page of GET /tasks: no output, environment or attempts, and the command cut to its first 1,024
 * characters ({@code cmdTruncated}). GET /tasks/{id} has the whole task, GET /tasks/{id}/output its output.
 */
@JsonbNillable
@JsonbPropertyOrder({"id", "cmd", "cmdTruncated", "state", "workerId", "exitCode", "submittedBy", "submittedAt",
        "startedAt", "finishedAt", "timeoutSeconds", "reason", "attemptCount", "cancelRequested"})
public record TaskSummaryView(String id, String cmd, boolean cmdTruncated, String state, String workerId,
                              Integer exitCode, String submittedBy, Instant submittedAt, Instant startedAt,
                              Instant finishedAt, Long timeoutSeconds, String reason, int attemptCount,
                              boolean cancelRequested) {

    public static TaskSummaryView of(TaskSummary task) {
        return new TaskSummaryView(task.id(), task.cmd(), task.cmdTruncated(), task.state().name(), task.workerId(),
                task.exitCode(), task.submittedBy(), TaskView.utc(task.submittedAt()), TaskView.utc(task.startedAt()),
                TaskView.utc(task.finishedAt()), task.timeoutSeconds(), task.reason(),
                task.attemptCount(), task.cancelRequested());
    }
}
