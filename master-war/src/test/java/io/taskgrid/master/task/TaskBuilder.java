package io.taskgrid.master.task;

import java.time.LocalDateTime;
import java.util.HashMap;
import java.util.Map;

/**
 * Test data: tasks in every state, made the only way real ones are, through the lifecycle methods. Change only what a
 * test cares about: {@code aRunningTask().retries(2).build()}.
 */
public final class TaskBuilder {

    /** How far along the lifecycle the built task is. */
    private enum Stage {
        QUEUED, ASSIGNED, RUNNING
    }

    public static final LocalDateTime T0 = LocalDateTime.of(2026, 11, 29, 12, 0);

    private final Stage stage;
    private String id = TaskIds.next();
    private String cmd = "echo hello";
    private final Map<String, String> env = new HashMap<>();
    private String cwd;
    private Long timeoutSeconds;
    private Integer maxAttempts;
    private Integer retries;
    private Integer priority;
    private final Map<String, String> requires = new HashMap<>();
    private String submittedBy = "tester";
    private String workerId = "w1";
    private String attemptId = TaskIds.next();
    private LocalDateTime submittedAt = T0;
    private String secretEnvSealed;

    private TaskBuilder(Stage stage) {
        this.stage = stage;
    }

    public static TaskBuilder aQueuedTask() {
        return new TaskBuilder(Stage.QUEUED);
    }

    public static TaskBuilder anAssignedTask() {
        return new TaskBuilder(Stage.ASSIGNED);
    }

    public static TaskBuilder aRunningTask() {
        return new TaskBuilder(Stage.RUNNING);
    }

    public TaskBuilder id(String id) {
        this.id = id;
        return this;
    }

    public TaskBuilder cmd(String cmd) {
        this.cmd = cmd;
        return this;
    }

    public TaskBuilder env(String name, String value) {
        env.put(name, value);
        return this;
    }

    public TaskBuilder cwd(String cwd) {
        this.cwd = cwd;
        return this;
    }

    public TaskBuilder timeoutSeconds(long seconds) {
        this.timeoutSeconds = seconds;
        return this;
    }

    public TaskBuilder maxAttempts(int attempts) {
        this.maxAttempts = attempts;
        return this;
    }

    public TaskBuilder retries(int retries) {
        this.retries = retries;
        return this;
    }

    public TaskBuilder priority(int priority) {
        this.priority = priority;
        return this;
    }

    public TaskBuilder requires(String key, String value) {
        requires.put(key, value);
        return this;
    }

    public TaskBuilder submittedBy(String caller) {
        this.submittedBy = caller;
        return this;
    }

    public TaskBuilder on(String worker, String attempt) {
        this.workerId = worker;
        this.attemptId = attempt;
        return this;
    }

    public TaskBuilder secretEnvSealed(String sealed) {
        this.secretEnvSealed = sealed;
        return this;
    }

    public TaskBuilder submittedAt(LocalDateTime when) {
        this.submittedAt = when;
        return this;
    }

    public String attemptId() {
        return attemptId;
    }

    public Task build() {
        Task task = Task.submitted(id, new NewTask(cmd, env, cwd, timeoutSeconds, maxAttempts, retries, Map.of(), priority,
                Labels.of(requires)), 3, submittedBy, secretEnvSealed, submittedAt);
        if (stage != Stage.QUEUED) {
            task.assign(workerId, attemptId, submittedAt.plusSeconds(1));
        }
        if (stage == Stage.RUNNING) {
            task.started(attemptId, submittedAt.plusSeconds(2));
        }
        return task;
    }
}
