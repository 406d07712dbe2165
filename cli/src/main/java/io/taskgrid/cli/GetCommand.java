package io.taskgrid.cli;

import jakarta.json.JsonObject;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.util.List;

/** One task: its state, exit code, where it ran and why it waits or ended. */
@Command(name = "get", description = "Shows a task.", footer = {"", "Example:", "  taskgrid get -o json ID"})
final class GetCommand extends ApiCommand {

    @Parameters(paramLabel = "ID", description = "the task's id")
    String id;

    @Override
    public Integer call() {
        JsonObject task = endpoint.client().task(id);
        if (printedAsJson(task)) {
            return 0;
        }
        for (String key : List.of("id", "state", "exitCode", "cmd", "workerId", "submittedBy", "submittedAt",
                "startedAt", "finishedAt", "timeoutSeconds", "reason", "waiting", "priority", "retries",
                "maxAttempts")) {
            String value = Output.text(task, key);
            if (!value.isEmpty()) {
                out().printf("%-13s %s%n", key + ":", Output.shortened(value, 200));
            }
        }
        out().printf("%-13s %d%n", "attempts:", task.containsKey("attempts") ? task.getJsonArray("attempts").size() : 0);
        out().flush();
        return 0;
    }
}
