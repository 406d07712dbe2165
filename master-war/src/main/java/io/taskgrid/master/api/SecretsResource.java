package io.taskgrid.master.api;

import io.taskgrid.master.dispatch.Dispatcher;
import io.taskgrid.master.security.RequiresRole;
import io.taskgrid.master.security.Role;
import io.taskgrid.master.task.DatabaseDriver;
import io.taskgrid.master.task.SecretKeys;
import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.text.SafeText;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.SecurityContext;
import org.eclipse.microprofile.openapi.annotations.Operation;
import org.eclipse.microprofile.openapi.annotations.media.Content;
import org.eclipse.microprofile.openapi.annotations.media.Schema;
import org.eclipse.microprofile.openapi.annotations.responses.APIResponse;
import org.eclipse.microprofile.openapi.annotations.tags.Tag;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.logging.Logger;

/**
 * The keys that seal {@code secretEnv}, for an operator who rotates them: which keys there are and how many stored
 * values each sealed, a new key that seals from now on, and a re-seal that moves every stored value to the current
 * key, after which the older keys may leave the file. Never a key itself.
 */
@Path("secrets")
@Tag(name = "secrets")
@ApplicationScoped
@Produces(MediaType.APPLICATION_JSON)
public class SecretsResource {

    private static final Logger LOG = Logger.getLogger(SecretsResource.class.getName());

    @Inject
    TaskStore store;

    @Inject
    Dispatcher dispatcher;

    /** The keys of the file, and what each one sealed. */
    public record SecretKeysView(String currentKey, List<KeyView> keys, long sealedBeforeKeyIds) {
    }

    /**
     * One key: its id, whether it seals new values, whether the file still has it (a value sealed under a key that
     * left the file does not open), and how many stored values it sealed.
     */
    public record KeyView(String id, boolean current, boolean inFile, long sealedValues) {
    }

    /** What a re-seal did: values moved to the current key, and tasks whose value did not open (key missing). */
    public record ResealView(String currentKey, int resealed, List<String> failedTaskIds) {
    }

    @GET
    @RequiresRole(Role.OPERATOR)
    @Operation(operationId = "listSecretKeys", summary = "The secret keys and how many stored values each sealed (operator)")
    @APIResponse(responseCode = "200", description = "the key ids, never the keys",
            content = @Content(mediaType = MediaType.APPLICATION_JSON, schema = @Schema(implementation = SecretKeysView.class)))
    @APIResponse(responseCode = "401", ref = "Unauthorized")
    @APIResponse(responseCode = "403", ref = "Forbidden")
    public SecretKeysView keys() {
        return view(store.secrets().ring());
    }

    @POST
    @Path("keys")
    @RequiresRole(Role.OPERATOR)
    @Operation(operationId = "addSecretKey", summary = "Make a new key that seals every secretEnv from now on (operator)",
            description = "Older keys stay in the file and still open what they sealed; POST /secrets/reseal moves "
                    + "those values to the new key. Several masters on one database share the file (taskgrid.home "
                    + "on a shared volume); any of them takes this call.")
    @APIResponse(responseCode = "201", description = "the keys, the new one current",
            content = @Content(mediaType = MediaType.APPLICATION_JSON, schema = @Schema(implementation = SecretKeysView.class)))
    @APIResponse(responseCode = "401", ref = "Unauthorized")
    @APIResponse(responseCode = "403", ref = "Forbidden")
    public Response addKey(@Context SecurityContext security) {
        String id = addKeyUnderClusterLock();
        LOG.warning(() -> "secret key '" + id + "' made by " + SafeText.oneLine(security.getUserPrincipal().getName(), 128)
                + "; it seals every secretEnv from now on");
        return Response.status(Response.Status.CREATED).entity(view(store.secrets().ring())).build();
    }

    @POST
    @Path("reseal")
    @RequiresRole(Role.OPERATOR)
    @Operation(operationId = "resealSecrets", summary = "Seal every stored secretEnv again under the current key (operator)",
            description = "Afterwards GET /secrets shows every value under the current key, and older keys may be "
                    + "removed from the file. Done on the active master (it holds the tasks in memory); another "
                    + "master answers 503 naming it.")
    @APIResponse(responseCode = "200", description = "how many values moved, and the tasks whose value did not open",
            content = @Content(mediaType = MediaType.APPLICATION_JSON, schema = @Schema(implementation = ResealView.class)))
    @APIResponse(responseCode = "401", ref = "Unauthorized")
    @APIResponse(responseCode = "403", ref = "Forbidden")
    public ResealView reseal(@Context SecurityContext security) {
        List<String> failed = new ArrayList<>();
        List<TaskStore.Resealed> resealed = store.resealStoredSecrets(failed);
        try {
            // The tasks in memory take the new values too, or they would still need the older key at dispatch.
            dispatcher.secretsResealed(resealed).get(30, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            throw ApiProblem.busy("the values were resealed in the database, but the dispatcher did not take them within "
                    + "30 s; keep the older keys, and try again", 5);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        String current = store.secrets().ring().currentId();
        LOG.info(() -> "secretEnv of " + resealed.size() + " task(s) resealed under key '" + current + "' by "
                + SafeText.oneLine(security.getUserPrincipal().getName(), 128)
                + (failed.isEmpty() ? "" : "; " + failed.size() + " did not open"));
        return new ResealView(current, resealed.size(), List.copyOf(failed.subList(0, Math.min(failed.size(), 100))));
    }

    /**
     * Adds the key while this master holds the database's lock for the shared key file, so that two masters (any
     * master takes this call) never write the file at once: the key the first wrote would be lost, and with it every
     * value it sealed.
     */
    private String addKeyUnderClusterLock() {
        try (Connection c = store.dataSource().getConnection()) {
            c.setAutoCommit(false);
            try {
                DatabaseDriver.of(c).lockKeyFile(c);
                String id = store.secrets().addKey();
                c.commit();
                return id;
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        } catch (SQLException e) {
            throw ApiProblem.busy("cannot reach the database to add a key: " + SafeText.oneLine(e.getMessage(), 200), 2);
        }
    }

    private SecretKeysView view(SecretKeys.Ring ring) {
        Map<String, Long> counts = store.sealedValuesByKey();
        List<KeyView> keys = new ArrayList<>();
        for (String id : ring.all().keySet()) {
            keys.add(new KeyView(id, id.equals(ring.currentId()), true, counts.getOrDefault(id, 0L)));
        }
        counts.forEach((id, count) -> {
            if (!id.isEmpty() && !ring.all().containsKey(id)) {
                keys.add(new KeyView(id, false, false, count));
            }
        });
        return new SecretKeysView(ring.currentId(), keys, counts.getOrDefault("", 0L));
    }
}
