package io.taskgrid.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintStream;

/** A task's output: what is stored, or followed until the task ends ({@code -f}). */
@Command(name = "logs", description = "Prints a task's output; -f follows it until the task ends.",
        footer = {"", "Examples:", "  taskgrid logs ID", "  taskgrid logs -f --stderr ID"})
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
            to.print(api.output(id, stream));
            to.flush();
            return 0;
        }
        api.follow(id, stream, event -> {
            if (event.name().equals("output")) {
                to.print(event.data().getString("text", ""));
                to.flush();
            }
        }, RunCommand.FOLLOW_RETRIES);
        return 0;
    }
}
