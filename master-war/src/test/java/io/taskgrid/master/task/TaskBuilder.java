package io.taskgrid.master.task;

import java.time.LocalDateTime;
import java.util.HashMap;
import java.util.Map;

/** Test data: a queued task with sensible defaults, changed only where a test cares. */
public final class TaskBuilder {

    private String id = TaskIds.next();
    private String cmd = "echo hello";
    private final Map<String, String> env = new HashMap<>();
    private String cwd;
    private Long timeoutSeconds;
    private LocalDateTime submittedAt = Task.nowUtc();

    private TaskBuilder() {
    }

    public static TaskBuilder aTask() {
        return new TaskBuilder();
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

    public TaskBuilder submittedAt(LocalDateTime when) {
        this.submittedAt = when;
        return this;
    }

    public Task build() {
        return new Task(id, new NewTask(cmd, env, cwd, timeoutSeconds), 3, submittedAt);
    }
}
