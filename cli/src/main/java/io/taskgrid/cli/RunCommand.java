package io.taskgrid.cli;

import jakarta.json.Json;
import jakarta.json.JsonObject;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.Console;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Runs a command on the grid as if here: submits it, writes its stdout and stderr to this terminal's as they are
 * printed, and exits with its exit code. Ctrl-C asks whether to cancel the task or leave it running; without a terminal
 * to ask on, it leaves it running and prints its id.
 */
@Command(name = "run", description = {"Runs a command on the grid, follows its output, exits with its exit code.",
        "The words after -- are joined with spaces and run by the agent's /bin/sh -c: quote the whole command "
                + "to keep its own quoting."},
        footer = {"", "Examples:", "  taskgrid run -- 'echo hi; exit 3'", "  taskgrid run --timeout 5m -- 'make test'"})
final class RunCommand extends ApiCommand {

    /** How many times in a row a follow is tried again before it gives up (about 2.5 minutes: a master restarting). */
    static final int FOLLOW_RETRIES = 30;

    @Mixin
    TaskOptions task;

    @Option(names = "--detach", description = "print the task's id and return at once")
    boolean detach;

    /** Where the task's streams go, as UTF-8 whatever the locale; replaceable by tests. */
    PrintStream stdout = utf8(FileDescriptor.out);
    PrintStream stderr = utf8(FileDescriptor.err);

    static PrintStream utf8(FileDescriptor descriptor) {
        return new PrintStream(new FileOutputStream(descriptor), true, StandardCharsets.UTF_8);
    }

    @Override
    public Integer call() {
        ApiClient api = endpoint.client();
        // Ctrl-C while the submission is on its way is kept until the master has answered: ended there, the command
        // would leave a task running whose id nobody was told. A second one ends it anyway (a master that hangs).
        AtomicBoolean interruptedEarly = new AtomicBoolean();
        Interrupts.onInterrupt(() -> {
            if (interruptedEarly.getAndSet(true)) {
                stderr.println("taskgrid: interrupted while submitting; the master may have accepted the task: "
                        + "taskgrid ls shows it");
                stderr.flush();
                Runtime.getRuntime().halt(ExitCodes.CANCELLED);
            }
            stderr.println("taskgrid: waiting for the master to answer the submission (Ctrl-C again to give up)");
            stderr.flush();
        });
        JsonObject submitted = api.submit(task.body(endpoint.environment, stderr), task.idempotencyKey);
        String id = submitted.getString("id");
        if (detach) {
            out().println(json() ? submitted.toString() : id);
            out().flush();
            return 0;
        }
        AtomicBoolean asking = new AtomicBoolean();
        AtomicBoolean cancelling = new AtomicBoolean();
        AtomicBoolean started = new AtomicBoolean();
        Interrupts.onInterrupt(() -> interrupted(api, id, asking, cancelling));
        if (interruptedEarly.get()) {
            interrupted(api, id, asking, cancelling);
        }
        tellWhyItWaits(api, id, started);
        ApiClient.Event end;
        try {
            end = api.follow(id, "both", event -> {
                started.set(true);
                if (json()) {
                    // One JSON object a line, each event with its name; the task as it ended comes last.
                    out().println(Json.createObjectBuilder(event.data()).add("event", event.name()).build());
                    out().flush();
                    return;
                }
                switch (event.name()) {
                    case "output" -> {
                        PrintStream to = "stderr".equals(event.data().getString("stream", "stdout")) ? stderr : stdout;
                        to.print(event.data().getString("text", ""));
                        to.flush();
                    }
                    case "dropped" -> stderr.println("taskgrid: [" + event.data().getJsonNumber("bytes") + " bytes of "
                            + Output.printable(event.data().getString("stream", "output")) + " not kept]");
                    case "attempt" -> stderr.println("taskgrid: [task " + id + " runs again, its output from the "
                            + "start]");
                    default -> {
                    }
                }
            }, FOLLOW_RETRIES);
        } catch (ApiException e) {
            throw new ApiException(e.status(), e.getMessage() + "; the task " + id + " may still run: taskgrid logs -f "
                    + id);
        }
        // The end event carries the state and exit code; the reason, for a task that ended without one, is read.
        String state = end.data().getString("state", "");
        JsonObject ended = Output.exitCode(end.data()) != null && (state.equals("SUCCEEDED") || state.equals("FAILED"))
                ? Json.createObjectBuilder(end.data()).add("id", id).build() : api.task(id);
        if (json()) {
            out().println(api.task(id));
            out().flush();
        }
        return ended(ended);
    }

    /** A task that has not started after a few seconds: once, why (no agent offers what it requires, all busy, ...). */
    private void tellWhyItWaits(ApiClient api, String id, AtomicBoolean started) {
        Thread watcher = new Thread(() -> {
            try {
                Thread.sleep(3000);
                if (!started.get()) {
                    JsonObject now = api.task(id);
                    String waiting = Output.text(now, "waiting");
                    if (!started.get() && now.getString("state", "").equals("QUEUED")) {
                        stderr.println("taskgrid: task " + id + " is queued" + (waiting.isEmpty() ? ""
                                : ": " + Output.printable(waiting)));
                    }
                }
            } catch (InterruptedException | RuntimeException e) {
                // only a hint
            }
        }, "taskgrid-waiting");
        watcher.setDaemon(true);
        watcher.start();
    }

    /** Ctrl-C: ask, on a terminal, once at a time; detach without one. */
    private void interrupted(ApiClient api, String id, AtomicBoolean asking, AtomicBoolean cancelling) {
        Console console = System.console();
        if (console == null || cancelling.get()) {
            detached(id);
            return;
        }
        if (!asking.compareAndSet(false, true)) {
            return;
        }
        try {
            String answer = console.readLine("%ntaskgrid: cancel task %s? [y/N] (N leaves it running) ", id);
            if (answer != null && answer.trim().toLowerCase(java.util.Locale.ROOT).startsWith("y")) {
                cancelling.set(true);
                api.cancel(id);
                stderr.println("taskgrid: cancelling task " + id + " ...");
                // Following goes on until the task ends CANCELLED, and the command exits with that.
            } else {
                detached(id);
            }
        } catch (ApiException e) {
            stderr.println("taskgrid: " + Output.printable(e.getMessage()));
        } finally {
            asking.set(false);
        }
    }

    private void detached(String id) {
        stderr.println("taskgrid: left task " + id + " running; follow it with: taskgrid logs -f " + id);
        stderr.println(id);
        stderr.flush();
        stdout.flush();
        Runtime.getRuntime().halt(ExitCodes.DETACHED);
    }
}
