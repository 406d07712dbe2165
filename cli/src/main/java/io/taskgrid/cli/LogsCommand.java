package io.taskgrid.cli;

import jakarta.json.Json;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintStream;

/** A task's output: what is stored, or followed until the task ends ({@code -f}). */
@Command(name = "logs", description = "Prints a task's output; -f follows it until the task ends.",
        footer = {"", "Examples:", "  taskgrid logs ID", "  taskgrid logs -f --stderr ID",
                "  taskgrid logs -f -o json ID    # one JSON event a line"})
final class LogsCommand extends ApiCommand {

    @Option(names = {"-f", "--follow"}, description = "follow until the task ends")
    boolean follow;

    @Option(names = "--stderr", description = "stderr instead of stdout")
    boolean stderr;

    @Parameters(paramLabel = "ID", description = "the task's id")
    String id;

    PrintStream to = RunCommand.utf8(java.io.FileDescriptor.out);

    @Override
    public Integer call() {
        ApiClient api = endpoint.client();
        String stream = stderr ? "stderr" : "stdout";
        if (!follow) {
            String text = api.output(id, stream);
            if (!printedAsJson(Json.createObjectBuilder().add("id", id).add("stream", stream).add("text", text)
                    .build())) {
                to.print(text);
                to.flush();
            }
            return 0;
        }
        api.follow(id, stream, event -> {
            if (json()) {
                // One JSON object a line, each event as the master sent it with its name: for scripts and jq.
                out().println(Json.createObjectBuilder(event.data()).add("event", event.name()).build());
                out().flush();
            } else if (event.name().equals("output")) {
                to.print(event.data().getString("text", ""));
                to.flush();
            }
        }, RunCommand.FOLLOW_RETRIES);
        return 0;
    }
}
