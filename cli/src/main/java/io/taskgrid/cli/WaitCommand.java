package io.taskgrid.cli;

import jakarta.json.JsonObject;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.util.List;

/** Waits for tasks to end: exits with the first one's status that did not succeed, else 0. */
@Command(name = "wait", description = "Waits until tasks end; exits with the first failure's status, else 0.",
        footer = {"", "Example:", "  taskgrid wait $(taskgrid submit -- make) && echo built"})
final class WaitCommand extends ApiCommand {

    @Parameters(paramLabel = "ID", arity = "1..*", description = "the tasks' ids")
    List<String> ids;

    @Override
    public Integer call() {
        ApiClient api = endpoint.client();
        int status = 0;
        for (String id : ids) {
            JsonObject task = awaitFinal(api, id);
            printEnded(task);
            int code = ended(task);
            if (status == 0) {
                status = code;
            }
        }
        return status;
    }
}
