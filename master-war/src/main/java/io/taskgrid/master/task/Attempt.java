package io.taskgrid.master.task;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import jakarta.persistence.Transient;

import java.time.LocalDateTime;

/**
 * One dispatch of a task to one worker. A task has a new attempt each time it is handed out; only its current attempt
 * (the task's {@code attemptId}) may change it. Made and ended by {@link Task}'s lifecycle methods only.
 */
@Entity
@Table(name = "TG_ATTEMPT")
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

    /**
     * How the attempt ended: a task state name, or REFUSED for an attempt the agent handed back unstarted (it went
     * back to the queue, or failed the task once refused too often); null while it is in flight.
     */
    @Column(name = "OUTCOME", length = 16)
    private String outcome;

    @Column(name = "REASON", length = 2000)
    private String reason;

    /** True until the store has written the attempt once: it is inserted, after that updated. */
    @Transient
    private boolean unsaved;

    protected Attempt() {
        // for JPA
    }

    static Attempt begun(String id, String taskId, String workerId, LocalDateTime assignedAt) {
        Attempt attempt = new Attempt();
        attempt.id = id;
        attempt.taskId = taskId;
        attempt.workerId = workerId;
        attempt.assignedAt = assignedAt;
        attempt.unsaved = true;
        return attempt;
    }

    /** An attempt as the store found it. */
    static Attempt restored(String id, String taskId, String workerId, LocalDateTime assignedAt,
                            LocalDateTime startedAt) {
        Attempt attempt = begun(id, taskId, workerId, assignedAt);
        attempt.startedAt = startedAt;
        attempt.unsaved = false;
        return attempt;
    }

    void started(LocalDateTime when) {
        this.startedAt = when;
    }

    void end(String how, String why, LocalDateTime when) {
        this.outcome = how;
        this.reason = Task.clipReason(why);
        this.endedAt = when;
    }

    /** Whether the store has yet to insert it; the store calls {@link #saved()} once it has. */
    public boolean isUnsaved() {
        return unsaved;
    }

    void saved() {
        unsaved = false;
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
