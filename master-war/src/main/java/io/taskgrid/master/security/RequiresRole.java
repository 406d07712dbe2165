package io.taskgrid.master.security;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * The role a REST endpoint needs, declared where the endpoint is, so that reading a resource method tells who may call
 * it. Checked by {@link RoleCheck} after matching; an endpoint that declares none answers nobody.
 *
 * <p>Taskgrid's own annotation rather than {@code @RolesAllowed}: application servers read that one themselves
 * (Liberty's JAX-RS security does, against its own user registry), and the roles here come from Taskgrid's tokens.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target({ElementType.METHOD, ElementType.TYPE})
public @interface RequiresRole {

    Role value();
}
