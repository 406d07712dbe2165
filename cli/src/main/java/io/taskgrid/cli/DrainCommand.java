package io.taskgrid.cli;

import jakarta.json.JsonObject;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** Drains a worker: it finishes what it runs and takes nothing new (operator). */
@Command(name = "drain", description = "Drains a worker: it finishes what it runs and takes nothing new.",
        footer = {"", "Example:", "  taskgrid drain w1"})
final class DrainCommand extends ApiCommand {

    @Parameters(paramLabel = "WORKER", description = "the worker's id")
    String worker;

    @Override
    public Integer call() {
        JsonObject drained = endpoint.client().drain(worker);
        out().println(json() ? drained.toString() : worker + " draining");
        out().flush();
        return 0;
    }
}
