package io.taskgrid.master.security;

import jakarta.ws.rs.core.SecurityContext;

import java.security.Principal;

/** The caller of a REST request as {@link ApiAuthFilter} established it: a name and one role. */
record ApiCaller(TokenFile.Caller caller, boolean secure) implements SecurityContext {

    Role role() {
        return caller.role();
    }

    @Override
    public Principal getUserPrincipal() {
        return caller::name;
    }

    @Override
    public boolean isUserInRole(String role) {
        return Role.parse(role).map(r -> caller.role().includes(r)).orElse(false);
    }

    @Override
    public boolean isSecure() {
        return secure;
    }

    @Override
    public String getAuthenticationScheme() {
        return "Bearer";
    }
}
