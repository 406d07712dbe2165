package io.taskgrid.master.api;

import io.taskgrid.master.security.ApiTokens;
import io.taskgrid.master.security.Credentials;
import io.taskgrid.master.security.RequiresRole;
import io.taskgrid.master.security.Role;
import io.taskgrid.master.text.SafeText;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import jakarta.json.bind.annotation.JsonbNillable;
import jakarta.json.bind.annotation.JsonbPropertyOrder;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.SecurityContext;
import org.eclipse.microprofile.openapi.annotations.Operation;
import org.eclipse.microprofile.openapi.annotations.enums.SchemaType;
import org.eclipse.microprofile.openapi.annotations.media.Content;
import org.eclipse.microprofile.openapi.annotations.media.Schema;
import org.eclipse.microprofile.openapi.annotations.parameters.Parameter;
import org.eclipse.microprofile.openapi.annotations.parameters.RequestBody;
import org.eclipse.microprofile.openapi.annotations.responses.APIResponse;
import org.eclipse.microprofile.openapi.annotations.tags.Tag;

import java.io.InputStream;
import java.math.BigDecimal;
import java.net.URI;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.logging.Logger;

/**
 * API tokens made through the API (operator): make one for a name and role, optionally with an expiry (its secret is
 * in that answer and nowhere else, ever); list them (never a secret); revoke one. Tokens of the tokens file are not
 * listed or revoked here: that file is their one place. A made or revoked token is logged with who did it.
 */
@Path("tokens")
@Tag(name = "tokens")
@ApplicationScoped
@Produces(MediaType.APPLICATION_JSON)
public class TokenResource {

    private static final Logger LOG = Logger.getLogger(TokenResource.class.getName());
    static final int DEFAULT_LIMIT = 100;
    static final int MAX_LIMIT = 1000;
    /** Ten years: longer is "never", which is what leaving the expiry out says. */
    static final long MAX_EXPIRY_DAYS = 3653;
    private static final Set<String> FIELDS = Set.of("name", "role", "expiresAt", "expiresInDays");

    @Inject
    ApiTokens tokens;

    @Inject
    Credentials credentials;

    /** A token as the API shows it: never its secret. */
    @JsonbNillable
    @JsonbPropertyOrder({"id", "name", "role", "createdAt", "createdBy", "expiresAt", "revokedAt", "revokedBy",
            "lastUsedAt", "active"})
    public record TokenView(String id, String name, String role, Instant createdAt, String createdBy,
                            Instant expiresAt, Instant revokedAt, String revokedBy, Instant lastUsedAt, boolean active) {

        static TokenView of(ApiTokens.Token t) {
            LocalDateTime now = LocalDateTime.now(ZoneOffset.UTC);
            boolean active = t.revokedAt() == null && (t.expiresAt() == null || t.expiresAt().isAfter(now));
            return new TokenView(t.id(), t.name(), t.role().name().toLowerCase(Locale.ROOT), TaskView.utc(t.createdAt()),
                    t.createdBy(), TaskView.utc(t.expiresAt()), TaskView.utc(t.revokedAt()), t.revokedBy(),
                    TaskView.utc(t.lastUsedAt()), active);
        }
    }

    /** A token just made, with its secret: the only time the secret is shown. */
    @JsonbPropertyOrder({"token", "secret"})
    public record CreatedView(TokenView token, String secret) {
    }

    /** One page of tokens, newest first; {@code next} is the cursor of the following page, null on the last. */
    @JsonbNillable
    public record TokenPage(List<TokenView> tokens, String next) {
    }

    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    @RequiresRole(Role.OPERATOR)
    @Operation(operationId = "createToken", summary = "Make an API token for a name and role (operator)",
            description = "The answer holds the token's secret; it is stored only as a hash and never shown again.")
    @RequestBody(required = true, content = @Content(mediaType = MediaType.APPLICATION_JSON,
            schema = @Schema(type = SchemaType.OBJECT, example = "{\"name\": \"ci\", \"role\": \"submitter\", "
                    + "\"expiresInDays\": 90}")))
    @APIResponse(responseCode = "201", description = "made; the secret is in this answer only",
            content = @Content(mediaType = MediaType.APPLICATION_JSON, schema = @Schema(implementation = CreatedView.class)))
    @APIResponse(responseCode = "400", ref = "BadRequest")
    @APIResponse(responseCode = "401", ref = "Unauthorized")
    @APIResponse(responseCode = "403", ref = "Forbidden")
    @APIResponse(responseCode = "409", ref = "Conflict")
    public Response create(InputStream body, @Parameter(hidden = true) @HeaderParam("Content-Length") String contentLength,
                           @Context SecurityContext security) {
        JsonObject request = TaskSubmissionParser.readObject(TaskResource.readBody(body, contentLength));
        for (String field : request.keySet()) {
            if (!FIELDS.contains(field)) {
                throw ApiProblem.badRequest("unknown field '" + SafeText.echo(field) + "'; the fields are name, role, "
                        + "expiresAt, expiresInDays");
            }
        }
        String name = string(request, "name", true);
        Role role = Role.parse(string(request, "role", true)).orElseThrow(() ->
                ApiProblem.badRequest("'role' must be viewer, submitter or operator"));
        LocalDateTime expiresAt = expiry(request);
        if (credentials.nameInTokensFile(name)) {
            throw ApiProblem.conflict("'" + name + "' names a token of the tokens file; a name is one caller, so choose "
                    + "another name");
        }
        String by = security.getUserPrincipal().getName();
        ApiTokens.Created created;
        try {
            created = tokens.create(name, role, expiresAt, by);
        } catch (IllegalArgumentException e) {
            throw e.getMessage().contains("active") ? ApiProblem.conflict(e.getMessage())
                    : ApiProblem.badRequest(e.getMessage());
        }
        ApiTokens.Token token = created.token();
        LOG.info(() -> "API token " + token.id() + " (" + token.name() + ", " + token.role().name().toLowerCase(Locale.ROOT)
                + (token.expiresAt() == null ? "" : ", expires " + TaskView.utc(token.expiresAt())) + ") made by "
                + SafeText.oneLine(by, 128));
        return Response.created(URI.create("/tokens/" + token.id()))
                .entity(new CreatedView(TokenView.of(token), created.secret())).build();
    }

    @GET
    @RequiresRole(Role.OPERATOR)
    @Operation(operationId = "listTokens", summary = "The API tokens made through the API, newest first (operator)",
            description = "Never a secret. Tokens of the tokens file are not here.")
    @APIResponse(responseCode = "200", description = "one page; pass next as cursor for the following one",
            content = @Content(mediaType = MediaType.APPLICATION_JSON, schema = @Schema(implementation = TokenPage.class)))
    @APIResponse(responseCode = "400", ref = "BadRequest")
    @APIResponse(responseCode = "401", ref = "Unauthorized")
    @APIResponse(responseCode = "403", ref = "Forbidden")
    public TokenPage list(@Parameter(description = "page size", schema = @Schema(type = SchemaType.INTEGER, minimum = "1",
                                  maximum = "1000", defaultValue = "100")) @QueryParam("limit") String limit,
                          @Parameter(description = "the next value of the previous page") @QueryParam("cursor") String cursor) {
        int size = limit(limit);
        if (cursor != null && !cursor.matches("[0-9a-f]{24}")) {
            throw ApiProblem.badRequest("'cursor' is not one this API gave out");
        }
        List<ApiTokens.Token> found = tokens.list(cursor, size + 1);
        boolean more = found.size() > size;
        List<ApiTokens.Token> page = more ? found.subList(0, size) : found;
        return new TokenPage(page.stream().map(TokenView::of).toList(), more ? page.get(page.size() - 1).id() : null);
    }

    @DELETE
    @Path("{id}")
    @RequiresRole(Role.OPERATOR)
    @Operation(operationId = "revokeToken", summary = "Revoke an API token: refused from now on (operator)")
    @APIResponse(responseCode = "200", description = "the token, revoked (a token revoked before keeps its first "
            + "revocation, and is answered the same)",
            content = @Content(mediaType = MediaType.APPLICATION_JSON, schema = @Schema(implementation = TokenView.class)))
    @APIResponse(responseCode = "401", ref = "Unauthorized")
    @APIResponse(responseCode = "403", ref = "Forbidden")
    @APIResponse(responseCode = "404", ref = "NotFound")
    public TokenView revoke(@Parameter(description = "the token's id") @PathParam("id") String id,
                            @Context SecurityContext security) {
        if (!id.matches("[0-9a-f]{24}")) {
            throw ApiProblem.notFound("no API token with id '" + SafeText.echo(id) + "'");
        }
        String by = security.getUserPrincipal().getName();
        ApiTokens.Revocation revocation = tokens.revoke(id, by)
                .orElseThrow(() -> ApiProblem.notFound("no API token with id '" + SafeText.echo(id) + "'"));
        ApiTokens.Token token = revocation.token();
        if (revocation.byThisCall()) {
            LOG.info(() -> "API token " + token.id() + " (" + token.name() + ") revoked by " + SafeText.oneLine(by, 128));
        }
        return TokenView.of(token);
    }

    private static String string(JsonObject request, String field, boolean required) {
        JsonValue value = request.get(field);
        if (value == null || value.getValueType() == JsonValue.ValueType.NULL) {
            if (required) {
                throw ApiProblem.badRequest("'" + field + "' is required");
            }
            return null;
        }
        if (value.getValueType() != JsonValue.ValueType.STRING) {
            throw ApiProblem.badRequest("'" + field + "' must be a string");
        }
        return ((JsonString) value).getString();
    }

    private static LocalDateTime expiry(JsonObject request) {
        String at = string(request, "expiresAt", false);
        JsonValue days = request.get("expiresInDays");
        if (at != null && days != null && days.getValueType() != JsonValue.ValueType.NULL) {
            throw ApiProblem.badRequest("give 'expiresAt' or 'expiresInDays', not both");
        }
        LocalDateTime latest = LocalDateTime.now(ZoneOffset.UTC).plusDays(MAX_EXPIRY_DAYS);
        if (at != null) {
            LocalDateTime expiresAt;
            try {
                expiresAt = LocalDateTime.ofInstant(Instant.parse(at), ZoneOffset.UTC).truncatedTo(ChronoUnit.MILLIS);
            } catch (DateTimeException e) {
                throw ApiProblem.badRequest("'expiresAt' must be a UTC time such as 2027-01-31T12:00:00Z, not '"
                        + SafeText.echo(at) + "'");
            }
            if (expiresAt.isAfter(latest)) {
                throw ApiProblem.badRequest("'expiresAt' is more than " + MAX_EXPIRY_DAYS + " days away; leave it out for a "
                        + "token that lasts until it is revoked");
            }
            return expiresAt;
        }
        if (days == null || days.getValueType() == JsonValue.ValueType.NULL) {
            return null;
        }
        if (days.getValueType() != JsonValue.ValueType.NUMBER) {
            throw ApiProblem.badRequest("'expiresInDays' must be a number");
        }
        BigDecimal n = ((JsonNumber) days).bigDecimalValue();
        // Compared before anything is computed from it: a number such as 1e999999 must cost nothing.
        if (n.signum() <= 0 || n.compareTo(BigDecimal.valueOf(MAX_EXPIRY_DAYS)) > 0) {
            throw ApiProblem.badRequest("'expiresInDays' must be more than 0 and at most " + MAX_EXPIRY_DAYS);
        }
        long seconds = n.multiply(BigDecimal.valueOf(86_400)).longValue();
        return LocalDateTime.now(ZoneOffset.UTC).plusSeconds(Math.max(1, seconds)).truncatedTo(ChronoUnit.SECONDS);
    }

    private static int limit(String limit) {
        if (limit == null || limit.isEmpty()) {
            return DEFAULT_LIMIT;
        }
        if (limit.matches("\\d{1,4}")) {
            int n = Integer.parseInt(limit);
            if (n >= 1 && n <= MAX_LIMIT) {
                return n;
            }
        }
        throw ApiProblem.badRequest("'limit' must be a whole number from 1 to " + MAX_LIMIT);
    }
}
