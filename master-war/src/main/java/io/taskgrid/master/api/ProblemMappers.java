package io.taskgrid.master.api;

import io.taskgrid.master.http.Problems;
import io.taskgrid.master.text.SafeText;
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
 * itself (unknown path, wrong method, wrong content type), so a client needs one way to read errors. The body is
 * built by {@link Problems}.
 */
public final class ProblemMappers {

    private static final Logger LOG = Logger.getLogger(ProblemMappers.class.getName());

    private ProblemMappers() {
    }

    @Provider
    public static class ApiProblemMapper implements ExceptionMapper<ApiProblem> {
        @Context
        UriInfo uri;

        @Override
        public Response toResponse(ApiProblem e) {
            Response problem = Problems.problem(e.status(), e.title(), e.getMessage(), uri);
            Response.ResponseBuilder response = Response.fromResponse(problem);
            if (!e.members().isEmpty()) {
                // Rare (a refused batch), so the plain body is read back rather than the shared helper widened.
                jakarta.json.JsonObjectBuilder body;
                try (jakarta.json.JsonReader reader = jakarta.json.Json.createReader(
                        new java.io.StringReader((String) problem.getEntity()))) {
                    body = jakarta.json.Json.createObjectBuilder(reader.readObject());
                }
                e.members().forEach(body::add);
                response.entity(body.build().toString());
            }
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
                        + "GET /tasks/{id}/output, GET /tasks/counts, GET /workers, POST /workers/{id}/drain, GET /me, "
                        + "GET /metrics, GET and POST /tokens, DELETE /tokens/{id}, GET /secrets, POST /secrets/keys "
                        + "and POST /secrets/reseal";
                case 405 -> "method not allowed on this resource" + allowed(original);
                case 415 -> "send the body as application/json";
                case 406 -> "this API answers with application/json only";
                default -> SafeText.oneLine(e.getMessage(), 200);
            };
            Response problem = Problems.problem(status, title, detail, uri);
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

    /** A master that takes a call through the database could not reach it: 503, for the client to try again. */
    @Provider
    public static class DatabaseAwayMapper implements ExceptionMapper<io.taskgrid.master.dispatch.DatabaseIntake.DatabaseAway> {
        @Context
        UriInfo uri;

        @Override
        public Response toResponse(io.taskgrid.master.dispatch.DatabaseIntake.DatabaseAway e) {
            return unchanged(e.getMessage() + (e.getCause() == null ? "" : ": " + e.getCause().getMessage()),
                    e.getMessage(), uri);
        }
    }

    /** The database did not answer a token change: 503, for the client to try again (the detail goes to the log). */
    @Provider
    public static class TokensUnavailableMapper implements ExceptionMapper<io.taskgrid.master.security.ApiTokens.Unavailable> {
        @Context
        UriInfo uri;

        @Override
        public Response toResponse(io.taskgrid.master.security.ApiTokens.Unavailable e) {
            return unchanged(e.getMessage(), "the database did not take the token change", uri);
        }
    }

    /**
     * 503 for a change the database did not take: {@code logged} (the driver's words, which may name hosts,
     * constraints or values) goes to the log only, {@code reason} to the caller.
     */
    static Response unchanged(String logged, String reason, UriInfo uri) {
        LOG.warning(SafeText.oneLine(String.valueOf(logged), 500));
        return Response.fromResponse(Problems.problem(503, "Service Unavailable", reason
                + "; nothing was changed, try again", uri)).header("Retry-After", "2").build();
    }

    /** Anything unexpected: logged with its stack trace, answered without it. */
    @Provider
    public static class UnexpectedExceptionMapper implements ExceptionMapper<Exception> {
        @Context
        UriInfo uri;

        @Override
        public Response toResponse(Exception e) {
            LOG.log(Level.SEVERE, "unexpected error serving " + SafeText.oneLine(String.valueOf(Problems.pathOf(uri)), 200), e);
            return Problems.problem(500, "Internal Server Error",
                    "the master failed to handle this request; its log has the details", uri);
        }
    }
}
