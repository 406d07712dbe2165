package io.taskgrid.master.api;

import io.taskgrid.master.security.RequiresRole;
import io.taskgrid.master.security.Role;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.json.bind.annotation.JsonbPropertyOrder;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.SecurityContext;
import org.eclipse.microprofile.openapi.annotations.Operation;
import org.eclipse.microprofile.openapi.annotations.media.Content;
import org.eclipse.microprofile.openapi.annotations.media.Schema;
import org.eclipse.microprofile.openapi.annotations.responses.APIResponse;
import org.eclipse.microprofile.openapi.annotations.tags.Tag;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Who the caller is: the token's name and its role, so that a client (the web UI) offers only what the role may do.
 * The server still checks every call; this only spares a user buttons that would answer 403.
 */
@Path("me")
@Tag(name = "caller")
@ApplicationScoped
@Produces(MediaType.APPLICATION_JSON)
public class MeResource {

    /** {@code role} is the highest role; {@code roles} every role it includes, lowest first. */
    @JsonbPropertyOrder({"name", "role", "roles"})
    public record Me(String name, String role, List<String> roles) {
    }

    @GET
    @RequiresRole(Role.VIEWER)
    @Operation(operationId = "whoAmI", summary = "The caller's name and roles (viewer)")
    @APIResponse(responseCode = "200", description = "who the token belongs to",
            content = @Content(mediaType = MediaType.APPLICATION_JSON, schema = @Schema(implementation = Me.class)))
    @APIResponse(responseCode = "401", ref = "Unauthorized")
    @APIResponse(responseCode = "403", ref = "Forbidden")
    public Me me(@Context SecurityContext caller) {
        List<String> roles = Arrays.stream(Role.values()).map(role -> role.name().toLowerCase(Locale.ROOT))
                .filter(caller::isUserInRole).toList();
        return new Me(caller.getUserPrincipal().getName(), roles.isEmpty() ? null : roles.get(roles.size() - 1), roles);
    }
}
