package io.taskgrid.master.task;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Index;
import jakarta.persistence.Table;

import java.time.LocalDateTime;

/**
 * One dispatch of a task to one worker. A task has a new attempt each time it is handed out; only its current attempt
 * (the task's {@code attemptId}) may change it, so a worker that was cut off and reports late cannot overwrite what a
 * later attempt did.
 */
@Entity
@Table(name = "TG_ATTEMPT", indexes = @Index(name = "TG_ATTEMPT_TASK", columnList = "TASK_ID"))
public class Attempt {

    @Id
    @Column(name = "ID", length = 36)
    private String id;

    @Column(name = "TASK_ID", length = 36, nullable = false)
    private String taskId;

    @Column(name = "WORKER_ID", length = 64, nullable = false)
    private String workerId;

    @Column(name = "ASSIGNED_AT", nullable = false)
    private LocalDateTime assignedAt;

    @Column(name = "STARTED_AT")
    private LocalDateTime startedAt;

    @Column(name = "ENDED_AT")
    private LocalDateTime endedAt;

    /** A task state name for how this attempt ended, or REQUEUED when its task went back to the queue; null while it runs. */
    @Column(name = "OUTCOME", length = 16)
    private String outcome;

    @Column(name = "REASON", length = 2000)
    private String reason;

    protected Attempt() {
        // for JPA
    }

    public Attempt(String id, String taskId, String workerId, LocalDateTime assignedAt) {
        this.id = id;
        this.taskId = taskId;
        this.workerId = workerId;
        this.assignedAt = assignedAt;
    }

    public void end(String outcome, String reason, LocalDateTime when) {
        this.outcome = outcome;
        this.reason = Task.clipReason(reason);
        this.endedAt = when;
    }

    public String getId() {
        return id;
    }

    public String getTaskId() {
        return taskId;
    }

    public String getWorkerId() {
        return workerId;
    }

    public LocalDateTime getAssignedAt() {
        return assignedAt;
    }

    public LocalDateTime getStartedAt() {
        return startedAt;
    }

    public void setStartedAt(LocalDateTime startedAt) {
        this.startedAt = startedAt;
    }

    public LocalDateTime getEndedAt() {
        return endedAt;
    }

    public String getOutcome() {
        return outcome;
    }

    public String getReason() {
        return reason;
    }
}
