package io.taskgrid.cli;

import jakarta.json.Json;
import jakarta.json.JsonException;
import jakarta.json.JsonObject;
import jakarta.json.JsonStructure;
import jakarta.json.JsonValue;

import javax.net.ssl.SSLContext;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.StringReader;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.function.Consumer;

/**
 * The master's REST API as the command line uses it: JSON in and out, errors turned into {@link ApiException} with the
 * API's {@code detail}, and a task's live output read as Server-Sent Events, resumed where it stopped.
 */
final class ApiClient {

    private static final Duration CONNECT = Duration.ofSeconds(10);
    private static final Duration CALL = Duration.ofSeconds(60);

    private final URI base;
    private final String token;
    private final HttpClient http;

    ApiClient(URI base, String token, SSLContext tls) {
        this.base = base;
        this.token = token;
        // HTTP/1.1: a plain-text master is not asked to upgrade, and an event stream is one response on one connection.
        HttpClient.Builder builder = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(CONNECT);
        if (tls != null) {
            builder.sslContext(tls);
        }
        this.http = builder.build();
    }

    URI base() {
        return base;
    }

    JsonObject submit(JsonStructure body, String idempotencyKey) {
        HttpRequest.Builder request = request("/tasks").header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body.toString()));
        if (idempotencyKey != null) {
            request.header("Idempotency-Key", idempotencyKey);
        }
        return object(send(request.build()));
    }

    JsonObject task(String id) {
        return object(send(request("/tasks/" + path(id)).GET().build()));
    }

    JsonObject tasks(String state, List<String> labels, int limit, String cursor) {
        StringBuilder query = new StringBuilder("/tasks?limit=").append(limit);
        if (state != null) {
            query.append("&state=").append(URLEncoder.encode(state, StandardCharsets.UTF_8));
        }
        for (String label : labels) {
            query.append("&label=").append(URLEncoder.encode(label, StandardCharsets.UTF_8));
        }
        if (cursor != null) {
            query.append("&cursor=").append(URLEncoder.encode(cursor, StandardCharsets.UTF_8));
        }
        return object(send(request(query.toString()).GET().build()));
    }

    /** The task as the master left it after the cancel: 200 cancelled while queued, 202 stopping on its agent. */
    JsonObject cancel(String id) {
        return object(send(request("/tasks/" + path(id)).DELETE().build()));
    }

    /** One page of the workers, from {@code cursor} (null: the first). */
    JsonObject workers(String cursor) {
        return object(send(request("/workers?limit=1000" + (cursor == null ? "" : "&cursor="
                + URLEncoder.encode(cursor, StandardCharsets.UTF_8))).GET().build()));
    }

    /** Makes an API token (operator): the token's record and its secret, which no later answer shows. */
    JsonObject createToken(JsonStructure body) {
        return object(send(request("/tokens").header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build()));
    }

    /** One page of the API tokens made through the API, newest first, from {@code cursor} (null: the first). */
    JsonObject tokens(String cursor) {
        return object(send(request("/tokens?limit=1000" + (cursor == null ? "" : "&cursor="
                + URLEncoder.encode(cursor, StandardCharsets.UTF_8))).GET().build()));
    }

    JsonObject revokeToken(String id) {
        return object(send(request("/tokens/" + path(id)).DELETE().build()));
    }

    JsonObject drain(String worker) {
        return object(send(request("/workers/" + path(worker) + "/drain").POST(HttpRequest.BodyPublishers.noBody())
                .build()));
    }

    /** The output stored so far, as text. */
    String output(String id, String stream) {
        HttpResponse<String> response = send(request("/tasks/" + path(id) + "/output?stream=" + stream)
                .header("Accept", "text/plain").GET().build());
        return response.body();
    }

    /** One event of a followed output. */
    record Event(String name, String id, JsonObject data) {
    }

    /**
     * Follows a task's output until it ends, handing each event to {@code events}: {@code output} ({@code stream},
     * {@code text}), {@code dropped}, {@code attempt} (the task runs again, its output from the start), and last
     * {@code end} ({@code state}, {@code exitCode}), which it returns. The stream is opened again from the last event's
     * id when the master ends it while idle, when the connection breaks (a master restarting) and when nothing, not
     * even the master's heartbeat, came for {@link #SILENCE}; it gives up after {@code retries} tries in a row without
     * an event.
     */
    Event follow(String id, String stream, Consumer<Event> events, int retries) {
        String lastId = null;
        int failures = 0;
        while (true) {
            HttpRequest.Builder request = HttpRequest.newBuilder(uri("/tasks/" + path(id) + "/output?follow=true&stream="
                    + stream)).header("Accept", "text/event-stream").timeout(CALL).GET();
            authorize(request);
            if (lastId != null) {
                request.header("Last-Event-ID", lastId);
            }
            HttpResponse<InputStream> response;
            try {
                response = http.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
            } catch (IOException e) {
                if (++failures > retries) {
                    throw unreachable(e);
                }
                pause(failures);
                continue;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ApiException(0, "interrupted");
            }
            if (response.statusCode() >= 300) {
                String body;
                try (InputStream in = response.body()) {
                    body = new String(in.readNBytes(64 * 1024), StandardCharsets.UTF_8);
                } catch (IOException e) {
                    body = "";
                }
                if ((response.statusCode() == 503 || response.statusCode() == 429) && ++failures <= retries) {
                    pause(failures);
                    continue;
                }
                throw problem(response, body);
            }
            if (!response.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream")) {
                closeQuietly(response.body());
                throw new ApiException(502, "the master's answer to a follow is not an event stream ("
                        + response.headers().firstValue("Content-Type").orElse("no type") + ")");
            }
            Silence silence = new Silence(response.body());
            try (BufferedReader in = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
                String name = "message";
                String eventId = null;
                StringBuilder data = null;
                String line;
                while ((line = boundedLine(in)) != null) {
                    silence.heard();
                    if (line.isEmpty()) {
                        if (eventId != null) {
                            lastId = eventId;
                        }
                        JsonObject parsed = data == null ? null : parse(data.toString());
                        if (parsed != null) {
                            failures = 0;
                            Event event = new Event(name, eventId, parsed);
                            if (event.name().equals("end")) {
                                events.accept(event);
                                return event;
                            }
                            if (event.name().equals("attempt")) {
                                // The offsets start again with the new attempt: a resume must not skip its start.
                                lastId = stream.equals("both") ? "0,0" : "0";
                            }
                            if (!event.name().equals("idle")) {
                                events.accept(event);
                            }
                        }
                        name = "message";
                        eventId = null;
                        data = null;
                    } else if (line.startsWith("event:")) {
                        name = line.substring(6).trim();
                    } else if (line.startsWith("id:")) {
                        eventId = line.substring(3).trim();
                    } else if (line.startsWith("data:")) {
                        data = (data == null ? new StringBuilder() : data.append('\n'))
                                .append(line.substring(line.startsWith("data: ") ? 6 : 5));
                        if (data.length() > MAX_EVENT_CHARS) {
                            throw tooLarge();
                        }
                    }
                }
                // Ended without an end event: the master went away or ended an idle stream. Open it again.
                if (++failures > retries) {
                    throw new ApiException(0, "the master at " + base + " keeps ending the output of task " + id
                            + " before the task ends");
                }
                pause(failures);
            } catch (IOException e) {
                if (++failures > retries) {
                    throw unreachable(e);
                }
                pause(failures);
            } finally {
                silence.stop();
            }
        }
    }

    /**
     * The most one event of a followed stream may hold: far more than the master sends (a chunk of output, escaped),
     * and a bound on what a master, or whatever answers in its place, can make this command keep in memory.
     */
    static final int MAX_EVENT_CHARS = 8 * 1024 * 1024;

    /** A line of the event stream, without its end; null at the end of the stream; refused past the bound. */
    static String boundedLine(BufferedReader in) throws IOException {
        StringBuilder line = new StringBuilder();
        int c;
        while ((c = in.read()) != -1) {
            if (c == '\n') {
                return line.toString();
            }
            if (c == '\r') {
                // CR LF or a CR alone ends a line, as in readLine.
                in.mark(1);
                if (in.read() != '\n') {
                    in.reset();
                }
                return line.toString();
            }
            line.append((char) c);
            if (line.length() > MAX_EVENT_CHARS) {
                throw tooLarge();
            }
        }
        return line.isEmpty() ? null : line.toString();
    }

    private static ApiException tooLarge() {
        return new ApiException(502, "the master sent an event of the output stream larger than "
                + MAX_EVENT_CHARS / (1024 * 1024) + " MiB");
    }

    /** How long a followed stream may be silent: the master sends a heartbeat every 15 s. */
    static final Duration SILENCE = Duration.ofSeconds(45);

    /** Closes a followed stream that went silent, so that a half-open connection ends in a reconnect, not a hang. */
    private static final class Silence {
        private static final java.util.concurrent.ScheduledExecutorService WATCH = java.util.concurrent.Executors
                .newSingleThreadScheduledExecutor(task -> {
                    Thread thread = new Thread(task, "taskgrid-silence");
                    thread.setDaemon(true);
                    return thread;
                });

        private final InputStream stream;
        private volatile long lastHeard = System.nanoTime();
        private final java.util.concurrent.ScheduledFuture<?> check;

        Silence(InputStream stream) {
            this.stream = stream;
            this.check = WATCH.scheduleWithFixedDelay(this::check, 5, 5, java.util.concurrent.TimeUnit.SECONDS);
        }

        void heard() {
            lastHeard = System.nanoTime();
        }

        private void check() {
            if (System.nanoTime() - lastHeard > SILENCE.toNanos()) {
                closeQuietly(stream);
            }
        }

        void stop() {
            check.cancel(false);
        }
    }

    private static void closeQuietly(InputStream in) {
        try {
            in.close();
        } catch (IOException e) {
            // already broken
        }
    }

    private static void pause(int failures) {
        try {
            Thread.sleep(Math.min(5_000L, 250L << Math.min(failures, 5)));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ApiException(0, "interrupted");
        }
    }

    private HttpRequest.Builder request(String path) {
        HttpRequest.Builder request = HttpRequest.newBuilder(uri(path)).timeout(CALL);
        authorize(request);
        return request;
    }

    private void authorize(HttpRequest.Builder request) {
        if (token != null && !token.isEmpty()) {
            request.header("Authorization", "Bearer " + token);
        }
    }

    private URI uri(String path) {
        return URI.create(base + path);
    }

    private static String path(String segment) {
        if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
            throw new IllegalArgumentException("'" + segment + "' is not an id");
        }
        return URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private HttpResponse<String> send(HttpRequest request) {
        HttpResponse<String> response;
        try {
            response = http.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw unreachable(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ApiException(0, "interrupted");
        }
        if (response.statusCode() >= 300) {
            throw problem(response, response.body());
        }
        return response;
    }

    private ApiException unreachable(IOException e) {
        String why = e instanceof java.net.ConnectException ? "connection refused"
                : e instanceof java.net.http.HttpConnectTimeoutException ? "no answer within " + CONNECT.toSeconds() + " s"
                : e.getMessage() == null || e.getMessage().isBlank() ? e.getClass().getSimpleName() : e.getMessage();
        return new ApiException(0, "cannot reach the master at " + base + " (" + why + ")");
    }

    private static ApiException problem(HttpResponse<?> response, String body) {
        int status = response.statusCode();
        if (status < 400) {
            return new ApiException(502, "the master answered " + status + " (to "
                    + response.headers().firstValue("Location").orElse("nowhere") + "): give --master the address it "
                    + "sends you to");
        }
        return problem(status, body);
    }

    /** The API's problem detail, else its title, else the status. */
    static ApiException problem(int status, String body) {
        String reason = null;
        try {
            JsonObject problem = Json.createReader(new StringReader(body)).readObject();
            reason = problem.getString("detail", problem.getString("title", null));
        } catch (JsonException | ClassCastException | IllegalStateException e) {
            // not a problem document
        }
        if (reason == null || reason.isBlank()) {
            reason = switch (status) {
                case 401 -> "no valid token (give one with --token-file, TASKGRID_TOKEN or the config file)";
                case 403 -> "this token's role may not do that";
                case 404 -> "not found";
                default -> "the master answered " + status;
            };
        }
        return new ApiException(status, reason);
    }

    private static JsonObject object(HttpResponse<String> response) {
        JsonObject parsed = parse(response.body());
        return parsed == null ? JsonValue.EMPTY_JSON_OBJECT : parsed;
    }

    private static JsonObject parse(String text) {
        if (text == null || text.isBlank()) {
            return null;
        }
        try {
            return Json.createReader(new StringReader(text)).readObject();
        } catch (JsonException | IllegalStateException e) {
            throw new ApiException(502, "the master's answer is not JSON: " + text.substring(0, Math.min(200,
                    text.length())));
        }
    }
}
