package io.taskgrid.cli;

import jakarta.json.JsonObject;
import picocli.CommandLine.Command;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/** The connected agents, on every master. */
@Command(name = "workers", description = "Lists the connected workers.", footer = {"", "Example:", "  taskgrid workers"})
final class WorkersCommand extends ApiCommand {

    @Override
    public Integer call() {
        ApiClient api = endpoint.client();
        List<JsonObject> all = allPages(api::workers, "workers");
        if (printedAsJson(jakarta.json.Json.createObjectBuilder().add("count", all.size())
                .add("workers", jakarta.json.Json.createArrayBuilder(all)).build())) {
            return 0;
        }
        List<List<String>> rows = new ArrayList<>();
        for (JsonObject worker : all) {
            JsonObject labels = worker.getJsonObject("labels");
            rows.add(List.of(worker.getString("id"), Output.text(worker, "master"),
                    worker.getInt("running", 0) + "/" + worker.getInt("slots", 0),
                    worker.getBoolean("draining", false) ? "draining" : "",
                    labels == null ? "" : labels.keySet().stream().map(k -> k + "=" + labels.getString(k, ""))
                            .collect(Collectors.joining(","))));
        }
        Output.table(out(), List.of("ID", "MASTER", "RUNNING", "DRAINING", "LABELS"), rows);
        return 0;
    }
}
