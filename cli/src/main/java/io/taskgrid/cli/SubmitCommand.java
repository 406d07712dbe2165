package io.taskgrid.cli;

import jakarta.json.Json;
import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonException;
import jakarta.json.JsonObject;
import jakarta.json.JsonValue;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Submits a task and prints its id; or a file of tasks, one JSON object a line, through the batch API. */
@Command(name = "submit", description = "Submits a task and prints its id.",
        footer = {"", "Examples:", "  taskgrid submit --retries 2 -- ./nightly.sh",
                "  taskgrid submit --wait -- 'exit 3'; echo $?",
                "  taskgrid submit --from-file tasks.jsonl   (one {\"cmd\": ...} a line)"})
final class SubmitCommand extends ApiCommand {

    /** The most tasks the master takes in one batch. */
    static final int BATCH = 1000;

    @Mixin
    TaskOptions task;

    @Option(names = "--wait", description = "wait until the task ends and exit with its exit code (no output shown)")
    boolean await;

    @Option(names = "--from-file", paramLabel = "FILE", description = "tasks as JSON lines, as POST /tasks takes them; "
            + "'-' reads stdin")
    Path fromFile;

    @Override
    public Integer call() {
        ApiClient api = endpoint.client();
        if (fromFile != null) {
            if (!task.command.isEmpty()) {
                throw new IllegalArgumentException("--from-file takes the tasks from the file: give no command");
            }
            return fromFile(api);
        }
        JsonObject submitted = api.submit(task.body(endpoint.environment, System.err), task.idempotencyKey);
        String id = submitted.getString("id");
        if (!await) {
            out().println(json() ? submitted.toString() : id);
            out().flush();
            return 0;
        }
        JsonObject ended = awaitFinal(api, id);
        printEnded(ended);
        return ended(ended);
    }

    /** The most tasks one file may hold: all are read and checked before the first is sent. */
    static final int FILE_MAX = 100_000;

    private int fromFile(ApiClient api) {
        if (!task.env.isEmpty() || !task.secretEnv.isEmpty() || task.cwd != null || task.timeout != null
                || task.retries != null || task.maxAttempts != null || task.priority != null || !task.requires.isEmpty()
                || task.idempotencyKey != null) {
            throw new IllegalArgumentException("--from-file takes each task's options from its line; give none here");
        }
        List<JsonValue> tasks = new ArrayList<>();
        try (BufferedReader in = fromFile.toString().equals("-")
                ? new BufferedReader(new java.io.InputStreamReader(System.in, StandardCharsets.UTF_8))
                : Files.newBufferedReader(fromFile, StandardCharsets.UTF_8)) {
            int lineNumber = 0;
            String line;
            while ((line = in.readLine()) != null) {
                lineNumber++;
                if (line.isBlank()) {
                    continue;
                }
                JsonValue parsed;
                try {
                    parsed = Json.createReader(new StringReader(line)).readValue();
                } catch (JsonException e) {
                    throw new IllegalArgumentException(fromFile + ":" + lineNumber + ": not JSON: " + e.getMessage());
                }
                if (parsed.getValueType() != JsonValue.ValueType.OBJECT) {
                    throw new IllegalArgumentException(fromFile + ":" + lineNumber + ": a task is a JSON object");
                }
                if (tasks.size() == FILE_MAX) {
                    throw new IllegalArgumentException(fromFile + ": more than " + FILE_MAX + " tasks; split it");
                }
                tasks.add(parsed);
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + fromFile + ": " + e);
        }
        if (tasks.isEmpty()) {
            throw new IllegalArgumentException(fromFile + ": no tasks in it");
        }
        // Checked whole before anything is sent; the master checks each batch whole too (all or none of it stored).
        for (int from = 0; from < tasks.size(); from += BATCH) {
            JsonArrayBuilder batch = Json.createArrayBuilder();
            tasks.subList(from, Math.min(tasks.size(), from + BATCH)).forEach(batch::add);
            send(api, batch.build());
        }
        return 0;
    }

    private int send(ApiClient api, jakarta.json.JsonArray tasks) {
        JsonObject answer = api.submit(tasks, null);
        for (JsonValue id : answer.getJsonArray("ids")) {
            out().println(((jakarta.json.JsonString) id).getString());
        }
        out().flush();
        return tasks.size();
    }
}
