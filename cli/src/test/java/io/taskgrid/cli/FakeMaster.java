package io.taskgrid.cli;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A stand-in for the master's REST API on a loopback port: answers what a test set for a method and path, and records
 * the requests, so the command line's own handling (options to JSON, SSE to the terminal, errors to exit codes) is
 * tested without a cluster. The real cluster's test is {@code TaskgridCliIT}.
 */
final class FakeMaster implements AutoCloseable {

    record Answer(int status, String contentType, String body) {
    }

    record Seen(String method, String path, Map<String, List<String>> headers, String body) {
    }

    private final HttpServer server;
    private final Map<String, Answer> answers = new ConcurrentHashMap<>();
    final List<Seen> seen = new CopyOnWriteArrayList<>();

    FakeMaster() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", this::handle);
        server.start();
    }

    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    FakeMaster answer(String method, String pathAndQuery, int status, String contentType, String body) {
        answers.put(method + " " + pathAndQuery, new Answer(status, contentType, body));
        return this;
    }

    FakeMaster json(String method, String pathAndQuery, int status, String body) {
        return answer(method, pathAndQuery, status, status >= 400 ? "application/problem+json" : "application/json",
                body);
    }

    private void handle(HttpExchange exchange) throws IOException {
        String target = exchange.getRequestURI().getRawPath()
                + (exchange.getRequestURI().getRawQuery() == null ? "" : "?" + exchange.getRequestURI().getRawQuery());
        String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
        seen.add(new Seen(exchange.getRequestMethod(), target, exchange.getRequestHeaders(), body));
        Answer answer = answers.get(exchange.getRequestMethod() + " " + target);
        if (answer == null) {
            answer = new Answer(404, "application/problem+json", "{\"title\":\"Not Found\",\"detail\":\"nothing at "
                    + target + "\"}");
        }
        byte[] bytes = answer.body().getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().add("Content-Type", answer.contentType());
        exchange.sendResponseHeaders(answer.status(), bytes.length == 0 ? -1 : bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
