package io.taskgrid.master.security;

import io.taskgrid.master.http.Problems;
import jakarta.annotation.Priority;
import jakarta.ws.rs.Priorities;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerRequestFilter;
import jakarta.ws.rs.container.ResourceInfo;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.ext.Provider;

import java.lang.reflect.Method;
import java.util.Locale;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * Authorization, once the request has found its endpoint: the caller that {@link ApiAuthFilter} authenticated must hold
 * the role the endpoint declares with {@link RequiresRole}. Finer rules (a submitter cancels only its own tasks) stay
 * with the resource, which knows the task.
 */
@Provider
@Priority(Priorities.AUTHORIZATION)
public class RoleCheck implements ContainerRequestFilter {

    private static final Logger LOG = Logger.getLogger(RoleCheck.class.getName());

    @Context
    ResourceInfo resource;

    @Override
    public void filter(ContainerRequestContext request) {
        Optional<Role> needed = declared(resource.getResourceMethod(), resource.getResourceClass());
        if (needed.isEmpty()) {
            // Fail closed: an endpoint added without a role is a bug, and must not be open meanwhile.
            LOG.severe(() -> "no @RequiresRole on " + resource.getResourceClass().getName() + "."
                    + resource.getResourceMethod().getName() + "; refusing every call to it");
            request.abortWith(Problems.problem(403, "Forbidden", "this endpoint declares no role, so it answers "
                    + "nobody", request.getUriInfo()));
            return;
        }
        Role held = request.getSecurityContext() instanceof ApiCaller caller ? caller.role() : null;
        if (held == null || !held.includes(needed.get())) {
            request.abortWith(Problems.problem(403, "Forbidden", "this needs the " + name(needed.get())
                    + " role; the token has " + (held == null ? "none" : name(held)), request.getUriInfo()));
        }
    }

    /** What a method declares with {@link RequiresRole}, or else its class; empty when neither does. */
    static Optional<Role> declared(Method method, Class<?> resource) {
        RequiresRole declared = method == null ? null : method.getAnnotation(RequiresRole.class);
        if (declared == null && resource != null) {
            declared = resource.getAnnotation(RequiresRole.class);
        }
        return Optional.ofNullable(declared).map(RequiresRole::value);
    }

    private static String name(Role role) {
        return role.name().toLowerCase(Locale.ROOT);
    }
}
