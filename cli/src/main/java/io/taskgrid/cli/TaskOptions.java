package io.taskgrid.cli;

import jakarta.json.Json;
import jakarta.json.JsonObject;
import jakarta.json.JsonObjectBuilder;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a task is, as options that mirror {@code POST /tasks}. The command is everything after {@code --}, joined with
 * spaces and run by the agent's {@code /bin/sh -c}, as a person typed it. A secret's value comes from the caller's
 * environment ({@code --secret-env NAME}) so that it is not on the command line where {@code ps} shows it; giving it
 * inline ({@code NAME=VALUE}) is allowed but says so.
 */
final class TaskOptions {

    @Option(names = "--env", paramLabel = "K=V", description = "an environment variable for the command (repeatable)")
    List<String> env = new ArrayList<>();

    @Option(names = "--secret-env", paramLabel = "K[=V]", description = "a secret environment variable: its value from "
            + "this environment when only the name is given (repeatable); stored sealed, never shown")
    List<String> secretEnv = new ArrayList<>();

    @Option(names = "--cwd", paramLabel = "DIR", description = "the directory the command runs in, on the agent")
    String cwd;

    @Option(names = "--timeout", paramLabel = "DURATION", description = "stop the command after this long "
            + "(90, 90s, 10m, 1h30m)")
    String timeout;

    @Option(names = "--retries", paramLabel = "N", description = "run again this many times when it fails")
    Integer retries;

    @Option(names = "--max-attempts", paramLabel = "N", description = "attempts at most when agents are lost")
    Integer maxAttempts;

    @Option(names = "--priority", paramLabel = "N", description = "higher runs first")
    Integer priority;

    @Option(names = "--require", paramLabel = "K=V", description = "a label the agent must offer (repeatable)")
    List<String> requires = new ArrayList<>();

    @Option(names = "--idempotency-key", paramLabel = "KEY", description = "a repeat with the same key creates nothing "
            + "new and answers the first task")
    String idempotencyKey;

    @Parameters(paramLabel = "CMD", description = "the command, after --", arity = "0..*")
    List<String> command = new ArrayList<>();

    /** The submission's JSON, or an {@link IllegalArgumentException} saying what is wrong. */
    JsonObject body(Map<String, String> callerEnvironment, java.io.PrintStream warnings) {
        if (command.isEmpty()) {
            throw new IllegalArgumentException("no command: put it after --, e.g. taskgrid run -- echo hi");
        }
        JsonObjectBuilder body = Json.createObjectBuilder().add("cmd", String.join(" ", command));
        if (!env.isEmpty()) {
            body.add("env", pairs(env, "--env"));
        }
        if (!secretEnv.isEmpty()) {
            Map<String, String> secrets = new LinkedHashMap<>();
            for (String item : secretEnv) {
                int eq = item.indexOf('=');
                if (eq < 0) {
                    String value = callerEnvironment.get(item);
                    if (value == null) {
                        throw new IllegalArgumentException("--secret-env " + item + ": no such variable in this "
                                + "environment");
                    }
                    secrets.put(item, value);
                } else {
                    warnings.println("taskgrid: --secret-env " + item.substring(0, eq) + "=...: the value is on the "
                            + "command line, where others may see it; give only the name and set it in the environment");
                    secrets.put(item.substring(0, eq), item.substring(eq + 1));
                }
            }
            JsonObjectBuilder sealed = Json.createObjectBuilder();
            secrets.forEach(sealed::add);
            body.add("secretEnv", sealed);
        }
        if (cwd != null) {
            body.add("cwd", cwd);
        }
        if (timeout != null) {
            body.add("timeoutSeconds", Durations.seconds(timeout));
        }
        if (retries != null) {
            body.add("retries", retries);
        }
        if (maxAttempts != null) {
            body.add("maxAttempts", maxAttempts);
        }
        if (priority != null) {
            body.add("priority", priority);
        }
        if (!requires.isEmpty()) {
            body.add("requires", pairs(requires, "--require"));
        }
        return body.build();
    }

    private static JsonObjectBuilder pairs(List<String> items, String option) {
        JsonObjectBuilder pairs = Json.createObjectBuilder();
        for (String item : items) {
            int eq = item.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException(option + " " + item + ": expected NAME=VALUE");
            }
            pairs.add(item.substring(0, eq), item.substring(eq + 1));
        }
        return pairs;
    }
}
