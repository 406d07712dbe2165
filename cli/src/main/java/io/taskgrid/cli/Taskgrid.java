package io.taskgrid.cli;

import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;

/**
 * The {@code taskgrid} command: runs a command on the grid and behaves like it ran here (its output on this terminal,
 * its exit code as this command's), and looks after tasks and workers. Each subcommand is a class of its own; what
 * they share is where to talk to ({@link Endpoint}) and the master's API ({@link ApiClient}).
 */
@Command(name = "taskgrid", mixinStandardHelpOptions = true, scope = CommandLine.ScopeType.INHERIT, versionProvider = Taskgrid.Version.class,
        description = "Runs commands on a Taskgrid cluster and looks after its tasks and workers.",
        subcommands = {RunCommand.class, SubmitCommand.class, GetCommand.class, LogsCommand.class, ListCommand.class,
                CancelCommand.class, WaitCommand.class, WorkersCommand.class, DrainCommand.class, TokenCommand.class,
                AutoComplete.GenerateCompletion.class},
        footerHeading = "%n", footer = {"Examples:", "  taskgrid run -- 'echo hi; exit 3'",
                "  taskgrid submit --timeout 10m --require gpu=yes -- ./train.sh", "  taskgrid logs -f ID", "",
                "The master: --master URL, $TASKGRID_URL or the config file; the token: --token-file, $TASKGRID_TOKEN "
                        + "or the config file (~/.config/taskgrid/config, lines url= token= ca-file=, mode 600).", "",
                ExitCodes.HELP})
public final class Taskgrid implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The command line as main runs it, for tests to run in-process. */
    static CommandLine commandLine() {
        CommandLine line = new CommandLine(new Taskgrid());
        line.getSubcommands().get("generate-completion").getCommandSpec().usageMessage().hidden(false);
        line.setExecutionExceptionHandler(Taskgrid::failed);
        line.setParameterExceptionHandler(new CommandLine.IParameterExceptionHandler() {
            @Override
            public int handleParseException(CommandLine.ParameterException e, String[] args) {
                PrintWriter err = e.getCommandLine().getErr();
                err.println("taskgrid: " + e.getMessage());
                err.println("Try '" + e.getCommandLine().getCommandSpec().qualifiedName() + " --help'.");
                return ExitCodes.USAGE;
            }
        });
        return line;
    }

    private static int failed(Exception e, CommandLine line, CommandLine.ParseResult parsed) {
        PrintWriter err = line.getErr();
        if (e instanceof ApiException api) {
            err.println("taskgrid: " + Output.printable(api.getMessage()));
            err.flush();
            return api.exitCode();
        }
        if (e instanceof IllegalArgumentException) {
            err.println("taskgrid: " + Output.printable(e.getMessage()));
            err.flush();
            return ExitCodes.USAGE;
        }
        err.println("taskgrid: " + e);
        err.flush();
        return 1;
    }

    /** The version the jar was built as. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String version = Taskgrid.class.getPackage().getImplementationVersion();
            return new String[]{"taskgrid " + (version == null ? "(development build)" : version)};
        }
    }
}
