package io.taskgrid.cli;

import jakarta.json.JsonObject;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.util.List;

/** Cancels tasks: a queued one at once, a running one stopped by its agent. */
@Command(name = "cancel", description = "Cancels tasks.", footer = {"", "Example:", "  taskgrid cancel ID1 ID2"})
final class CancelCommand extends ApiCommand {

    @Parameters(paramLabel = "ID", arity = "1..*", description = "the tasks' ids")
    List<String> ids;

    @Override
    public Integer call() {
        ApiClient api = endpoint.client();
        return forEachId(ids, id -> {
            JsonObject task = api.cancel(id);
            return json() ? task.toString() : id + " " + (task.getString("state", "").equals("CANCELLED") ? "cancelled"
                    : "stopping on its agent");
        });
    }
}
