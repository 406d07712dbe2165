package io.taskgrid.master.api;

import jakarta.ws.rs.core.Response;

/**
 * A request the API refuses, with the reason a person can act on. Mapped to {@code application/problem+json}
 * (RFC 9457) by {@link ProblemMappers}.
 */
public class ApiProblem extends RuntimeException {

    private final int status;
    private String title;
    private final java.util.Map<String, String> headers = new java.util.LinkedHashMap<>();
    /** Extension members of the problem (RFC 9457 section 3.2), for what a client acts on by program. */
    private final java.util.Map<String, Integer> members = new java.util.LinkedHashMap<>();

    public ApiProblem(int status, String title, String detail) {
        super(detail);
        this.status = status;
        this.title = title;
    }

    public static ApiProblem badRequest(String detail) {
        return new ApiProblem(400, "Invalid request", detail);
    }

    public static ApiProblem notFound(String detail) {
        return new ApiProblem(404, "Not found", detail);
    }

    public static ApiProblem tooLarge(String detail) {
        return new ApiProblem(413, "Request body too large", detail);
    }

    public static ApiProblem conflict(String detail) {
        return new ApiProblem(409, "Conflict", detail);
    }

    public static ApiProblem unprocessable(String detail) {
        return new ApiProblem(422, "Unprocessable request", detail);
    }

    /** 429 with Retry-After: the caller has used its share; nothing was accepted. */
    public static ApiProblem tooManyTasks(String detail, int retryAfterSeconds) {
        return new ApiProblem(429, "Too many tasks", detail).header("Retry-After", Integer.toString(retryAfterSeconds));
    }

    /** 503 with Retry-After: the client should come back, nothing was accepted. */
    public static ApiProblem busy(String detail, int retryAfterSeconds) {
        return new ApiProblem(503, "Service unavailable", detail).header("Retry-After", Integer.toString(retryAfterSeconds));
    }

    public ApiProblem titled(String newTitle) {
        this.title = newTitle;
        return this;
    }

    public ApiProblem header(String name, String value) {
        headers.put(name, value);
        return this;
    }

    /** A whole-number extension member, such as {@code index}: the submission of a batch that was refused. */
    public ApiProblem member(String name, int value) {
        members.put(name, value);
        return this;
    }

    public java.util.Map<String, Integer> members() {
        return members;
    }

    public java.util.Map<String, String> headers() {
        return headers;
    }

    public int status() {
        return status;
    }

    public String title() {
        return title;
    }

    public Response.Status.Family family() {
        return Response.Status.Family.familyOf(status);
    }
}
