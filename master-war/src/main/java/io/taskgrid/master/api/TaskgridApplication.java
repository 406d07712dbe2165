package io.taskgrid.master.api;

import io.taskgrid.master.http.Problems;
import jakarta.ws.rs.ApplicationPath;
import jakarta.ws.rs.core.Application;
import org.eclipse.microprofile.openapi.annotations.Components;
import org.eclipse.microprofile.openapi.annotations.OpenAPIDefinition;
import org.eclipse.microprofile.openapi.annotations.enums.SchemaType;
import org.eclipse.microprofile.openapi.annotations.enums.SecuritySchemeType;
import org.eclipse.microprofile.openapi.annotations.headers.Header;
import org.eclipse.microprofile.openapi.annotations.info.Info;
import org.eclipse.microprofile.openapi.annotations.media.Content;
import org.eclipse.microprofile.openapi.annotations.media.Schema;
import org.eclipse.microprofile.openapi.annotations.media.SchemaProperty;
import org.eclipse.microprofile.openapi.annotations.responses.APIResponse;
import org.eclipse.microprofile.openapi.annotations.security.SecurityRequirement;
import org.eclipse.microprofile.openapi.annotations.security.SecurityScheme;
import org.eclipse.microprofile.openapi.annotations.tags.Tag;

/**
 * The REST API lives at the root of the master's context: POST /tasks, GET /tasks/{id}, GET /workers.
 *
 * <p>The OpenAPI document ({@code /openapi}) is made by the server from the annotations here and on the resources:
 * annotations only, no server-specific file or filter, so every MicroProfile server serves the same document. The
 * error answers every endpoint shares are declared once here as components, and each operation names the ones it can
 * give, so a client generator sees every status a call can end with.
 */
@ApplicationPath("/")
@OpenAPIDefinition(
        info = @Info(title = "Taskgrid", version = "1",
                description = "Runs shell commands on a pool of worker agents. Every call needs a bearer token "
                        + "(an API token or a JWT) with a role: viewer reads, submitter also submits and cancels its own "
                        + "tasks, operator does everything. Every error is application/problem+json (RFC 9457)."),
        security = @SecurityRequirement(name = TaskgridApplication.BEARER),
        tags = {@Tag(name = "tasks", description = "Submit, read, list and cancel tasks"),
            @Tag(name = "workers", description = "The connected agents"),
            @Tag(name = "metrics", description = "Prometheus metrics of the master"),
            @Tag(name = "tokens", description = "API tokens made, listed and revoked through the API (operator)"),
            @Tag(name = "secrets", description = "The keys that seal secretEnv, and their rotation (operator)")},
        components = @Components(
                schemas = @Schema(name = "Problem", type = SchemaType.OBJECT, description = "RFC 9457 problem details",
                        requiredProperties = {"type", "title", "status"},
                        properties = {
                            @SchemaProperty(name = "type", type = SchemaType.STRING, example = "about:blank"),
                            @SchemaProperty(name = "title", type = SchemaType.STRING),
                            @SchemaProperty(name = "status", type = SchemaType.INTEGER),
                            @SchemaProperty(name = "detail", type = SchemaType.STRING,
                                    description = "what to fix; quotes at most 64 characters of any value"),
                            @SchemaProperty(name = "instance", type = SchemaType.STRING)}),
                responses = {
                    @APIResponse(name = "BadRequest", responseCode = "400",
                            description = "a parameter or the body breaks its rule (detail says which)",
                            content = @Content(mediaType = Problems.PROBLEM_JSON, schema = @Schema(ref = "Problem"))),
                    @APIResponse(name = "Unauthorized", responseCode = "401",
                            description = "no token, or not a valid one (WWW-Authenticate: Bearer)",
                            headers = @Header(name = "WWW-Authenticate", schema = @Schema(type = SchemaType.STRING)),
                            content = @Content(mediaType = Problems.PROBLEM_JSON, schema = @Schema(ref = "Problem"))),
                    @APIResponse(name = "Forbidden", responseCode = "403",
                            description = "the token's role is too small, or plain HTTP from another machine",
                            content = @Content(mediaType = Problems.PROBLEM_JSON, schema = @Schema(ref = "Problem"))),
                    @APIResponse(name = "NotFound", responseCode = "404", description = "no such task, worker or token",
                            content = @Content(mediaType = Problems.PROBLEM_JSON, schema = @Schema(ref = "Problem"))),
                    @APIResponse(name = "Conflict", responseCode = "409",
                            description = "the task is already final, or as many tokens are active as a master keeps",
                            content = @Content(mediaType = Problems.PROBLEM_JSON, schema = @Schema(ref = "Problem"))),
                    @APIResponse(name = "TooLarge", responseCode = "413", description = "the body is over 1 MiB",
                            content = @Content(mediaType = Problems.PROBLEM_JSON, schema = @Schema(ref = "Problem"))),
                    @APIResponse(name = "UnsupportedMediaType", responseCode = "415",
                            description = "the body is not application/json",
                            content = @Content(mediaType = Problems.PROBLEM_JSON, schema = @Schema(ref = "Problem"))),
                    @APIResponse(name = "Unprocessable", responseCode = "422",
                            description = "the Idempotency-Key was used for a different request",
                            content = @Content(mediaType = Problems.PROBLEM_JSON, schema = @Schema(ref = "Problem"))),
                    @APIResponse(name = "TooManyRequests", responseCode = "429",
                            description = "the caller has used its own share: as many unfinished tasks as its "
                                    + "share of the queue allows (taskgrid.queue.per.caller.share), or as many "
                                    + "follows of task output as one caller may hold; nothing changed, try again "
                                    + "after Retry-After seconds",
                            headers = @Header(name = "Retry-After", schema = @Schema(type = SchemaType.INTEGER)),
                            content = @Content(mediaType = Problems.PROBLEM_JSON, schema = @Schema(ref = "Problem"))),
                    @APIResponse(name = "Busy", responseCode = "503",
                            description = "the master cannot take this now (queue full, database slow, too many "
                                    + "output reads); nothing changed, try again after Retry-After seconds",
                            headers = @Header(name = "Retry-After", schema = @Schema(type = SchemaType.INTEGER)),
                            content = @Content(mediaType = Problems.PROBLEM_JSON, schema = @Schema(ref = "Problem")))
                }))
@SecurityScheme(securitySchemeName = TaskgridApplication.BEARER, type = SecuritySchemeType.HTTP, scheme = "bearer",
        description = "An API token from the master's tokens file, or a JWT of the configured identity provider")
public class TaskgridApplication extends Application {

    static final String BEARER = "bearer";
}
