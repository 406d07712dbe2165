package io.taskgrid.master.task;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;

import java.time.LocalDateTime;

/**
 * A client's Idempotency-Key and the task it created. A table of its own, keyed by the key, so that the database
 * itself refuses a second task for one key: two requests at once, or two masters on one database, cannot both win.
 */
@Entity
@Table(name = "TG_IDEMPOTENCY_KEY")
public class IdempotencyKey {

    @Id
    @Column(name = "IDEMPOTENCY_KEY", length = 255)
    private String key;

    @Column(name = "TASK_ID", length = 36, nullable = false)
    private String taskId;

    /** SHA-256 of the normalized request, to tell a retry of the same request from a different one. */
    @Column(name = "REQUEST_HASH", length = 64, nullable = false)
    private String requestHash;

    @Column(name = "CREATED_AT", nullable = false)
    private LocalDateTime createdAt;

    protected IdempotencyKey() {
        // for JPA
    }

    public IdempotencyKey(String key, String taskId, String requestHash, LocalDateTime createdAt) {
        this.key = key;
        this.taskId = taskId;
        this.requestHash = requestHash;
        this.createdAt = createdAt;
    }

    public String getKey() {
        return key;
    }

    public String getTaskId() {
        return taskId;
    }

    public String getRequestHash() {
        return requestHash;
    }
}
