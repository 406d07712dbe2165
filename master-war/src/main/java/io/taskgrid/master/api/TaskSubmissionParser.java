package io.taskgrid.master.api;

import io.taskgrid.master.task.Labels;
import io.taskgrid.master.task.NewTask;
import io.taskgrid.master.task.Task;
import io.taskgrid.master.text.SafeText;
import jakarta.json.Json;
import jakarta.json.JsonArray;
import jakarta.json.JsonConfig;
import jakarta.json.JsonException;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import jakarta.json.JsonReaderFactory;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import jakarta.json.stream.JsonParsingException;

import java.io.StringReader;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Turns a POST /tasks body into a {@link NewTask}, or says precisely what is wrong with it. Parsing is done by hand
 * over JSON-P rather than by binding, so that every kind of bad input gets its own message and nothing half-valid
 * slips through a lenient binder (numbers given as strings, unknown fields, duplicate keys).
 */
public final class TaskSubmissionParser {

    public static final int MAX_CMD_BYTES = 64 * 1024;
    /** One week: longer than any sane command, short enough to catch a unit mistake (milliseconds given as seconds). */
    public static final long MAX_TIMEOUT_SECONDS = 7L * 24 * 3600;
    public static final int MAX_ENV_ENTRIES = 256;
    public static final int MAX_CWD_LENGTH = 4096;
    public static final int MAX_ENV_NAME_LENGTH = 256;

    private static final Pattern ENV_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
    public static final int MAX_RETRIES = 100;
    public static final int MAX_ATTEMPTS = 100;

    private static final Set<String> FIELDS = Set.of("cmd", "timeoutSeconds", "env", "cwd", "retries", "maxAttempts",
            "secretEnv", "priority", "requires");
    /** Duplicate keys are an error: which of two "cmd" values would run is not a guess to make. */
    private static final JsonReaderFactory READERS =
            Json.createReaderFactory(Map.of(JsonConfig.KEY_STRATEGY, JsonConfig.KeyStrategy.NONE));

    private TaskSubmissionParser() {
    }

    /** Submissions in one batch at most: what one commit and one answer carry comfortably. */
    public static final int MAX_BATCH = 1000;

    /** A POST /tasks body: one task (a JSON object) or a batch (an array of such objects), in the order given. */
    public record Submissions(List<NewTask> tasks, boolean batch) {
    }

    public static NewTask parse(String body) {
        return fromObject(readObject(body));
    }

    /**
     * A body that is either one submission or an array of 1 to {@link #MAX_BATCH} of them, parsed once. Every element
     * is checked before anything is returned, so a batch is refused whole: the problem names the first bad element by
     * its index (counted from 0) in its detail ("submission 3: ...") and in an {@code index} member.
     */
    public static Submissions parseSubmissions(String body) {
        JsonValue value = readValue(body);
        if (value.getValueType() == JsonValue.ValueType.OBJECT) {
            return new Submissions(List.of(fromObject(value.asJsonObject())), false);
        }
        if (value.getValueType() != JsonValue.ValueType.ARRAY) {
            throw ApiProblem.badRequest("the request body must be a JSON object (one task) or an array of 1 to "
                    + MAX_BATCH + " of them (a batch), not " + describe(value));
        }
        JsonArray array = value.asJsonArray();
        if (array.isEmpty()) {
            throw ApiProblem.badRequest("the batch is empty; send 1 to " + MAX_BATCH + " submissions");
        }
        if (array.size() > MAX_BATCH) {
            throw ApiProblem.badRequest("the batch has " + array.size() + " submissions; at most " + MAX_BATCH
                    + " are allowed in one request");
        }
        List<NewTask> tasks = new ArrayList<>(array.size());
        for (int i = 0; i < array.size(); i++) {
            JsonValue element = array.get(i);
            try {
                if (element.getValueType() != JsonValue.ValueType.OBJECT) {
                    throw ApiProblem.badRequest("must be a JSON object such as {\"cmd\": \"echo hello\"}, not "
                            + describe(element));
                }
                tasks.add(fromObject(element.asJsonObject()));
            } catch (ApiProblem problem) {
                throw new ApiProblem(problem.status(), problem.title(), "submission " + i + ": " + problem.getMessage()
                        + "; nothing of the batch was stored").member("index", i);
            }
        }
        return new Submissions(List.copyOf(tasks), true);
    }

    private static NewTask fromObject(JsonObject object) {
        for (String field : object.keySet()) {
            if (!FIELDS.contains(field)) {
                throw ApiProblem.badRequest("unknown field '" + SafeText.echo(field)
                        + "'; the fields are cmd, timeoutSeconds, env, secretEnv, cwd, retries, maxAttempts, priority, "
                        + "requires");
            }
        }
        Long retries = wholeNumber(object, "retries", 0, MAX_RETRIES);
        Long maxAttempts = wholeNumber(object, "maxAttempts", 1, MAX_ATTEMPTS);
        Map<String, String> env = env(object, "env");
        Map<String, String> secretEnv = env(object, "secretEnv");
        for (String name : secretEnv.keySet()) {
            if (env.containsKey(name)) {
                throw ApiProblem.badRequest("'" + name + "' is in both env and secretEnv; give it once");
            }
        }
        Long priority = wholeNumber(object, "priority", Task.MIN_PRIORITY, Task.MAX_PRIORITY);
        return new NewTask(cmd(object), env, cwd(object), timeout(object),
                maxAttempts == null ? null : maxAttempts.intValue(), retries == null ? null : retries.intValue(),
                secretEnv, priority == null ? null : priority.intValue(), requires(object));
    }

    /** A JSON object from a request body, or a 400 that says what is wrong with it. */
    static JsonObject readObject(String body) {
        JsonValue value = readValue(body);
        if (value.getValueType() != JsonValue.ValueType.OBJECT) {
            throw ApiProblem.badRequest("the request body must be a JSON object, not " + describe(value));
        }
        return value.asJsonObject();
    }

    /** Any JSON value from a request body, checked for shape first, or a 400 that says what is wrong with it. */
    private static JsonValue readValue(String body) {
        if (body == null || body.isBlank()) {
            throw ApiProblem.badRequest("the request body is empty; send a JSON object such as {\"cmd\": \"echo hello\"}");
        }
        JsonShape.check(body);
        JsonValue value;
        try (JsonReader reader = READERS.createReader(new StringReader(body))) {
            value = reader.readValue();
        } catch (JsonParsingException e) {
            throw ApiProblem.badRequest("malformed JSON at line " + e.getLocation().getLineNumber() + ", column "
                    + e.getLocation().getColumnNumber() + ": " + SafeText.oneLine(e.getMessage(), 200));
        } catch (JsonException e) {
            throw ApiProblem.badRequest("malformed JSON: " + SafeText.oneLine(e.getMessage(), 200));
        } catch (NumberFormatException | ArithmeticException e) {
            // A number such as 1e+9999999999 is valid JSON but no BigDecimal (found by fuzzing).
            throw ApiProblem.badRequest("malformed JSON: a number is out of range");
        }
        return value;
    }

    private static String cmd(JsonObject object) {
        JsonValue value = object.get("cmd");
        if (value == null || value.getValueType() == JsonValue.ValueType.NULL) {
            throw ApiProblem.badRequest("'cmd' is required: the shell command to run, as a string");
        }
        if (value.getValueType() != JsonValue.ValueType.STRING) {
            throw ApiProblem.badRequest("'cmd' must be a string, not " + describe(value));
        }
        String cmd = ((JsonString) value).getString();
        if (cmd.isBlank()) {
            throw ApiProblem.badRequest("'cmd' must not be blank");
        }
        if (cmd.indexOf('\0') >= 0) {
            throw ApiProblem.badRequest("'cmd' must not contain a NUL character");
        }
        int bytes = cmd.getBytes(StandardCharsets.UTF_8).length;
        if (bytes > MAX_CMD_BYTES) {
            throw ApiProblem.badRequest("'cmd' is " + bytes + " bytes; at most " + MAX_CMD_BYTES + " (64 KiB) are allowed");
        }
        return cmd;
    }

    private static Long timeout(JsonObject object) {
        return wholeNumber(object, "timeoutSeconds", 1, MAX_TIMEOUT_SECONDS);
    }

    private static Long wholeNumber(JsonObject object, String field, long min, long max) {
        JsonValue value = object.get(field);
        if (value == null || value.getValueType() == JsonValue.ValueType.NULL) {
            return null;
        }
        String rule = "'" + field + "' must be a whole number from " + min + " to " + max;
        if (value.getValueType() != JsonValue.ValueType.NUMBER) {
            throw ApiProblem.badRequest(rule + ", not " + describe(value));
        }
        // JsonShape has bounded the number to a few dozen characters, so this arithmetic is cheap; the value is never
        // formatted in full (a plain rendering of 1e999999999 is a billion digits), only compared.
        BigDecimal number;
        try {
            number = ((JsonNumber) value).bigDecimalValue();
        } catch (RuntimeException e) {
            throw ApiProblem.badRequest(rule + "; the number is out of range");
        }
        if (number.signum() != 0 && (long) number.precision() - number.scale() > 19) {
            throw ApiProblem.badRequest(rule + "; the number is out of range");
        }
        if (number.signum() != 0 && number.scale() > 0 && number.stripTrailingZeros().scale() > 0) {
            throw ApiProblem.badRequest(rule + "; got a fraction");
        }
        if (number.compareTo(BigDecimal.valueOf(min)) < 0 || number.compareTo(BigDecimal.valueOf(max)) > 0) {
            throw ApiProblem.badRequest(rule + "; got " + SafeText.echo(number.toString()));
        }
        return number.longValue();
    }

    /** {@code env} or {@code secretEnv}; messages about a secret never show its value. */
    private static Map<String, String> env(JsonObject object, String field) {
        JsonValue value = object.get(field);
        if (value == null || value.getValueType() == JsonValue.ValueType.NULL) {
            return Map.of();
        }
        if (value.getValueType() != JsonValue.ValueType.OBJECT) {
            throw ApiProblem.badRequest("'" + field + "' must be an object of names to string values, not "
                    + describe(value));
        }
        JsonObject env = value.asJsonObject();
        if (env.size() > MAX_ENV_ENTRIES) {
            throw ApiProblem.badRequest("'" + field + "' has " + env.size() + " entries; at most " + MAX_ENV_ENTRIES
                    + " are allowed");
        }
        Map<String, String> result = new LinkedHashMap<>();
        for (Map.Entry<String, JsonValue> entry : env.entrySet()) {
            String name = entry.getKey();
            if (name.length() > MAX_ENV_NAME_LENGTH || !ENV_NAME.matcher(name).matches()) {
                throw ApiProblem.badRequest("'" + field + "' name '" + SafeText.echo(name)
                        + "' is not a valid variable name; use letters, digits and _, not starting with a digit, at most "
                        + MAX_ENV_NAME_LENGTH + " characters");
            }
            if (entry.getValue().getValueType() != JsonValue.ValueType.STRING) {
                throw ApiProblem.badRequest("'" + field + "." + name + "' must be a string, not "
                        + describe(entry.getValue()));
            }
            String text = ((JsonString) entry.getValue()).getString();
            if (text.indexOf('\0') >= 0) {
                throw ApiProblem.badRequest("'" + field + "." + name + "' must not contain a NUL character");
            }
            result.put(name, text);
        }
        return result;
    }

    /** Labels the worker must carry: an object of label keys to string values. */
    private static Labels requires(JsonObject object) {
        JsonValue value = object.get("requires");
        if (value == null || value.getValueType() == JsonValue.ValueType.NULL) {
            return Labels.NONE;
        }
        if (value.getValueType() != JsonValue.ValueType.OBJECT) {
            throw ApiProblem.badRequest("'requires' must be an object of label keys to string values, such as "
                    + "{\"os\": \"linux\"}, not " + describe(value));
        }
        JsonObject required = value.asJsonObject();
        if (required.size() > Labels.MAX_LABELS) {
            throw ApiProblem.badRequest("'requires' has " + required.size() + " labels; at most " + Labels.MAX_LABELS
                    + " are allowed");
        }
        Map<String, String> labels = new LinkedHashMap<>();
        for (Map.Entry<String, JsonValue> entry : required.entrySet()) {
            if (entry.getValue().getValueType() != JsonValue.ValueType.STRING) {
                throw ApiProblem.badRequest("'requires' values must be strings; '" + SafeText.echo(entry.getKey())
                        + "' is " + describe(entry.getValue()));
            }
            labels.put(entry.getKey(), ((JsonString) entry.getValue()).getString());
        }
        try {
            return Labels.of(labels);
        } catch (IllegalArgumentException e) {
            throw ApiProblem.badRequest("'requires': " + e.getMessage());
        }
    }

    private static String cwd(JsonObject object) {
        JsonValue value = object.get("cwd");
        if (value == null || value.getValueType() == JsonValue.ValueType.NULL) {
            return null;
        }
        if (value.getValueType() != JsonValue.ValueType.STRING) {
            throw ApiProblem.badRequest("'cwd' must be an absolute path as a string, not " + describe(value));
        }
        String cwd = ((JsonString) value).getString();
        if (!cwd.startsWith("/")) {
            throw ApiProblem.badRequest("'cwd' must be an absolute path (starting with /); got '" + SafeText.echo(cwd) + "'");
        }
        if (cwd.codePoints().anyMatch(Character::isISOControl)) {
            // NUL cannot reach a system call, and CR or LF in a path would start lines in the agents' logs.
            throw ApiProblem.badRequest("'cwd' must not contain control characters (NUL, CR, LF, ...)");
        }
        if (cwd.length() > MAX_CWD_LENGTH) {
            throw ApiProblem.badRequest("'cwd' is longer than " + MAX_CWD_LENGTH + " characters");
        }
        return cwd;
    }

    private static String describe(JsonValue value) {
        return switch (value.getValueType()) {
            case OBJECT -> "an object";
            case ARRAY -> "an array";
            case STRING -> "a string";
            case NUMBER -> "a number";
            case TRUE, FALSE -> "a boolean";
            case NULL -> "null";
        };
    }
}
