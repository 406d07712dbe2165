package io.taskgrid.master.api;

import io.taskgrid.master.metrics.TaskgridMetrics;
import io.taskgrid.master.text.SafeText;
import jakarta.json.Json;
import jakarta.json.JsonObjectBuilder;
import jakarta.ws.rs.WebApplicationException;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.UriInfo;
import jakarta.ws.rs.ext.ExceptionMapper;
import jakarta.ws.rs.ext.Provider;

import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Every error the API returns is {@code application/problem+json} (RFC 9457), including the ones JAX-RS raises by
 * itself (unknown path, wrong method, wrong content type), so a client needs one way to read errors.
 */
public final class ProblemMappers {

    public static final String PROBLEM_JSON = "application/problem+json";
    private static final Logger LOG = Logger.getLogger(ProblemMappers.class.getName());

    private ProblemMappers() {
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
    private static String pathOf(UriInfo uri) {
        try {
            return uri == null ? null : uri.getRequestUri().getRawPath();
        } catch (RuntimeException e) {
            return null;
        }
    }

    @Provider
    public static class ApiProblemMapper implements ExceptionMapper<ApiProblem> {
        @Context
        UriInfo uri;

        @Override
        public Response toResponse(ApiProblem e) {
            Response.ResponseBuilder response = Response.fromResponse(problem(e.status(), e.title(), e.getMessage(), uri));
            e.headers().forEach(response::header);
            return response.build();
        }
    }

    @Provider
    public static class WebApplicationExceptionMapper implements ExceptionMapper<WebApplicationException> {
        @Context
        UriInfo uri;

        @Override
        public Response toResponse(WebApplicationException e) {
            Response original = e.getResponse();
            int status = original.getStatus();
            String title = original.getStatusInfo().getReasonPhrase();
            String detail = switch (status) {
                case 404 -> "no such resource; the API has POST /tasks, GET /tasks, GET and DELETE /tasks/{id}, "
                        + "GET /tasks/{id}/output, GET /workers and POST /workers/{id}/drain";
                case 405 -> "method not allowed on this resource" + allowed(original);
                case 415 -> "send the body as application/json";
                case 406 -> "this API answers with application/json only";
                default -> SafeText.oneLine(e.getMessage(), 200);
            };
            Response problem = problem(status, title, detail, uri);
            if (status == 405 && original.getHeaderString("Allow") != null) {
                return Response.fromResponse(problem).header("Allow", original.getHeaderString("Allow")).build();
            }
            return problem;
        }

        private static String allowed(Response original) {
            String allow = original.getHeaderString("Allow");
            return allow == null ? "" : "; allowed: " + allow;
        }
    }

    /** Anything unexpected: logged with its stack trace, answered without it. */
    @Provider
    public static class UnexpectedExceptionMapper implements ExceptionMapper<Exception> {
        @Context
        UriInfo uri;

        @Override
        public Response toResponse(Exception e) {
            LOG.log(Level.SEVERE, "unexpected error serving " + SafeText.oneLine(String.valueOf(pathOf(uri)), 200), e);
            return problem(500, "Internal Server Error",
                    "the master failed to handle this request; its log has the details", uri);
        }
    }
}
