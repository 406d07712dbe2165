package io.taskgrid.master.http;

import io.taskgrid.master.metrics.TaskgridMetrics;
import jakarta.json.Json;
import jakarta.json.JsonObjectBuilder;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.UriInfo;

/**
 * How the master says no over HTTP: {@code application/problem+json} (RFC 9457). Its own package because both the
 * resources ({@code api}) and the filters in front of them ({@code security}) refuse requests, and neither may depend
 * on the other for it.
 */
public final class Problems {

    public static final String PROBLEM_JSON = "application/problem+json";

    private Problems() {
    }

    /** A problem+json response; every refusal of the API, the authentication filter's too, is built here. */
    public static Response problem(int status, String title, String detail, UriInfo uri) {
        TaskgridMetrics.REQUESTS_REFUSED.inc(Integer.toString(status));
        JsonObjectBuilder body = Json.createObjectBuilder()
                .add("type", "about:blank")
                .add("title", title)
                .add("status", status);
        if (detail != null) {
            body.add("detail", detail);
        }
        String path = pathOf(uri);
        if (path != null) {
            body.add("instance", path);
        }
        return Response.status(status).type(PROBLEM_JSON).entity(body.build().toString()).build();
    }

    /**
     * The request's path, or null: the server builds the URI from the request's headers, and a refusal must not fail
     * on the very input it refuses.
     */
    public static String pathOf(UriInfo uri) {
        try {
            return uri == null ? null : uri.getRequestUri().getRawPath();
        } catch (RuntimeException e) {
            return null;
        }
    }
}
