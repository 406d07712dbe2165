package io.taskgrid.cli;

import jakarta.json.JsonObject;
import picocli.CommandLine;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.Function;

/** What every subcommand that talks to the master has: where to, how to print, and the stream to print to. */
abstract class ApiCommand implements Callable<Integer> {

    @Mixin
    Endpoint endpoint;

    @Option(names = {"-o", "--output"}, paramLabel = "FORMAT", description = "table (default) or json")
    Output.Format format = Output.Format.table;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    PrintWriter out() {
        return spec.commandLine().getOut();
    }

    PrintWriter err() {
        return spec.commandLine().getErr();
    }

    boolean json() {
        return format == Output.Format.json;
    }

    /** With {@code -o json}, prints {@code answer} as the API gave it and says so; otherwise prints nothing. */
    boolean printedAsJson(jakarta.json.JsonStructure answer) {
        if (!json()) {
            return false;
        }
        out().println(answer);
        out().flush();
        return true;
    }

    /**
     * Does {@code action} for each id and prints the line it returns. A refusal is printed with its id and the others
     * are still done; the command's status is the first refusal's, 0 when there was none.
     */
    int forEachId(List<String> ids, Function<String, String> action) {
        int status = 0;
        for (String id : ids) {
            try {
                out().println(action.apply(id));
            } catch (ApiException e) {
                err().println("taskgrid: " + Output.printable(id + ": " + e.getMessage()));
                status = status == 0 ? e.exitCode() : status;
            }
        }
        out().flush();
        err().flush();
        return status;
    }

    /** Every item of a list the API pages ({@code next} the cursor of the following page), up to 100,000. */
    static List<JsonObject> allPages(Function<String, JsonObject> page, String items) {
        List<JsonObject> all = new ArrayList<>();
        String cursor = null;
        do {
            JsonObject one = page.apply(cursor);
            all.addAll(one.getJsonArray(items).getValuesAs(JsonObject.class));
            cursor = one.containsKey("next") && !one.isNull("next") ? one.getString("next") : null;
        } while (cursor != null && all.size() < 100_000);
        return all;
    }

    /** An ended task as one line, "ID STATE EXIT", or its JSON with {@code -o json}. */
    void printEnded(JsonObject task) {
        out().println(json() ? task.toString() : task.getString("id", "?") + " " + task.getString("state") + " "
                + Output.text(task, "exitCode"));
        out().flush();
    }

    /** Waits until the task is final, asking less often the longer it takes; the task as it ended. */
    static JsonObject awaitFinal(ApiClient api, String id) {
        long pause = 200;
        while (true) {
            JsonObject task = api.task(id);
            if (ExitCodes.FINAL_STATES.contains(task.getString("state", ""))) {
                return task;
            }
            try {
                Thread.sleep(pause);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ApiException(0, "interrupted");
            }
            pause = Math.min(pause * 2, 2000);
        }
    }

    /** The exit status for an ended task, saying on stderr why when it did not end with an exit code of its own. */
    int ended(JsonObject task) {
        String state = task.getString("state", "");
        Integer exit = Output.exitCode(task);
        String why = ExitCodes.reason(task.getString("id", "?"), state, exit, Output.text(task, "reason"));
        if (why != null) {
            err().println(Output.printable(why));
            err().flush();
        }
        return ExitCodes.ofTask(state, exit);
    }
}
