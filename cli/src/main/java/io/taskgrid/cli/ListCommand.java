package io.taskgrid.cli;

import jakarta.json.JsonObject;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;

/** Tasks, newest first. */
@Command(name = "ls", description = "Lists tasks, newest first.",
        footer = {"", "Examples:", "  taskgrid ls --state running", "  taskgrid ls --label gpu=yes",
                "  taskgrid ls --limit 200 -o json"})
final class ListCommand extends ApiCommand {

    @Option(names = "--state", paramLabel = "STATE", description = "only tasks in this state (queued, running, "
            + "succeeded, failed, timed_out, cancelled, lost, ...)")
    String state;

    @Option(names = "--label", paramLabel = "KEY=VALUE", description = "only tasks that require this label "
            + "(--require when submitted); repeat for several")
    List<String> labels = new ArrayList<>();

    @Option(names = "--limit", paramLabel = "N", description = "at most this many (1 to 1000, default 20)")
    int limit = 20;

    @Override
    public Integer call() {
        if (limit < 1 || limit > 1000) {
            throw new IllegalArgumentException("--limit must be from 1 to 1000");
        }
        JsonObject page = endpoint.client().tasks(state, labels, limit, null);
        if (printedAsJson(page)) {
            return 0;
        }
        List<List<String>> rows = new ArrayList<>();
        for (JsonObject task : page.getJsonArray("tasks").getValuesAs(JsonObject.class)) {
            rows.add(List.of(task.getString("id"), task.getString("state"), Output.text(task, "exitCode"),
                    Output.text(task, "workerId"), Output.text(task, "submittedAt"),
                    Output.shortened(Output.text(task, "cmd"), 50)));
        }
        Output.table(out(), List.of("ID", "STATE", "EXIT", "WORKER", "SUBMITTED", "COMMAND"), rows);
        if (page.containsKey("next") && !page.isNull("next")) {
            err().println("taskgrid: more tasks than these " + limit + (limit < 1000 ? "; --limit shows up to 1000" : ""));
            err().flush();
        }
        return 0;
    }
}
