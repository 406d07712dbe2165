package io.taskgrid.it;

import jakarta.json.Json;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import jakarta.json.JsonValue;
import org.awaitility.core.ConditionTimeoutException;

import java.io.IOException;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;

/** A small client of the REST API for the tests, speaking plain HTTP and JSON like curl would. */
public final class TaskgridClient {

    public static final Set<String> FINAL_STATES = Set.of("SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED", "LOST");

    private final String base;
    private final String token;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    /** @param token the API token every request carries, or null for none */
    public TaskgridClient(String base, String token) {
        this.base = base;
        this.token = token;
    }

    public TaskgridClient withToken(String otherToken) {
        return new TaskgridClient(base, otherToken);
    }

    public record Reply(int status, HttpResponse<String> response) {
        public JsonObject json() {
            try (JsonReader reader = Json.createReader(new StringReader(response.body()))) {
                return reader.readObject();
            }
        }

        public String contentType() {
            return response.headers().firstValue("Content-Type").orElse("");
        }

        public String header(String name) {
            return response.headers().firstValue(name).orElse(null);
        }

        public String body() {
            return response.body();
        }
    }

    public String base() {
        return base;
    }

    public Reply post(String path, String contentType, String body) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + path))
                .timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (contentType != null) {
            request.header("Content-Type", contentType);
        }
        return send(request.build());
    }

    public Reply delete(String path) {
        return send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30)).DELETE().build());
    }

    public Reply get(String path) {
        return send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30)).GET().build());
    }

    public Reply send(HttpRequest request) {
        if (token != null && request.headers().firstValue("Authorization").isEmpty()) {
            request = HttpRequest.newBuilder(request, (name, value) -> true)
                    .header("Authorization", "Bearer " + token).build();
        }
        try {
            HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
            return new Reply(response.statusCode(), response);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Submits a task and returns its id; fails unless the master accepted it. */
    public String submit(String json) {
        Reply reply = post("/tasks", "application/json", json);
        if (reply.status() != 202) {
            throw new AssertionError("expected 202 for " + json + ", got " + reply.status() + ": " + reply.body());
        }
        return reply.json().getString("id");
    }

    public String submitCmd(String cmd) {
        return submit(Json.createObjectBuilder().add("cmd", cmd).build().toString());
    }

    public JsonObject task(String id) {
        Reply reply = get("/tasks/" + id);
        if (reply.status() != 200) {
            throw new AssertionError("GET /tasks/" + id + " answered " + reply.status() + ": " + reply.body());
        }
        return reply.json();
    }

    public String state(String id) {
        return task(id).getString("state");
    }

    /** Polls until the task is in one of {@code states}; returns it. */
    public JsonObject awaitState(String id, Set<String> states, Duration timeout) {
        // Kept for the failure message: where the task got to says more than that it did not arrive.
        AtomicReference<JsonObject> last = new AtomicReference<>();
        try {
            return Polling.poll(timeout, Duration.ofMillis(50)).until(() -> task(id), task -> {
                last.set(task);
                return states.contains(task.getString("state"));
            });
        } catch (ConditionTimeoutException e) {
            throw new AssertionError("task " + id + " did not reach " + states + " within " + timeout.toSeconds()
                    + " s; it is " + last.get(), e);
        }
    }

    /**
     * Waits until every one of {@code ids} is RUNNING at the same moment, as a fault injected next must find them.
     * Waiting for each in turn is not enough: on a busy machine one can start late and another be done by the time it
     * is looked at. A task that ends first fails at once, since the fault would then find it finished.
     */
    public void awaitAllRunning(Collection<String> ids, Duration timeout) {
        Map<String, String> states = new TreeMap<>();
        try {
            Polling.poll(timeout, Duration.ofMillis(50)).until(() -> {
                for (String id : ids) {
                    String state = task(id).getString("state");
                    states.put(id, state);
                    if (FINAL_STATES.contains(state)) {
                        throw new AssertionError("task " + id + " ended before all of " + ids + " ran: " + states);
                    }
                }
                return states.values().stream().allMatch("RUNNING"::equals);
            });
        } catch (ConditionTimeoutException e) {
            throw new AssertionError("not all of " + ids + " were RUNNING within " + timeout.toSeconds() + " s; last "
                    + states, e);
        }
    }

    public JsonObject awaitFinal(String id, Duration timeout) {
        return awaitState(id, FINAL_STATES, timeout);
    }

    public List<JsonObject> workers() {
        return get("/workers").json().getJsonArray("workers").getValuesAs(JsonObject.class);
    }

    /** The newest task's id, or null when there is none: tells whether a request created a task. */
    public String newestTaskId() {
        List<JsonObject> tasks = get("/tasks?limit=1").json().getJsonArray("tasks").getValuesAs(JsonObject.class);
        return tasks.isEmpty() ? null : tasks.get(0).getString("id");
    }

    public static String stringOrNull(JsonObject object, String field) {
        JsonValue value = object.get(field);
        return value == null || value.getValueType() == JsonValue.ValueType.NULL ? null : object.getString(field);
    }

    /**
     * A fixed wait, for what no condition can be polled for: that something does not happen, or a span of time a
     * test needs to pass. Anything that can be observed is waited for with {@link Polling#poll} instead.
     */
    public static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
