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
        int status = 0;
        for (String id : ids) {
            try {
                JsonObject task = api.cancel(id);
                String state = task.getString("state", "");
                out().println(json() ? task.toString() : id + " " + (state.equals("CANCELLED") ? "cancelled"
                        : "stopping on its agent"));
            } catch (ApiException e) {
                err().println("taskgrid: " + Output.printable(id + ": " + e.getMessage()));
                status = status == 0 ? e.exitCode() : status;
            }
        }
        out().flush();
        err().flush();
        return status;
    }
}
