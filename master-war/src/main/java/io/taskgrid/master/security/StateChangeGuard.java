package io.taskgrid.master.security;

import io.taskgrid.master.http.HttpMethods;
import io.taskgrid.master.http.Problems;
import io.taskgrid.master.text.SafeText;
import jakarta.annotation.Priority;
import jakarta.inject.Inject;
import jakarta.ws.rs.Priorities;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerRequestFilter;
import jakarta.ws.rs.container.PreMatching;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.ext.Provider;

import java.util.Locale;
import java.util.Optional;

/**
 * What a browser on another origin could make the master do on its own, without reading an answer: send a "simple"
 * request (a form's POST, or {@code fetch} in {@code no-cors} mode) that needs no preflight. With authentication on
 * that changes nothing, as every call needs a bearer token that no other origin has; with it off, every request from
 * this machine is an operator's, so any web page in a local browser could drain workers or re-seal secrets. Two rules
 * close that, on every request that is not a read ({@code GET}, {@code HEAD}, {@code OPTIONS}):
 *
 * <ul>
 *   <li>a body must be {@code application/json}, and a request that names any other content type (a form's) is
 *       refused 415 even without a body: a cross-origin page cannot send JSON without a preflight, which this master
 *       never grants;</li>
 *   <li>with authentication off, a request whose {@code Origin} is not the master's own (scheme, host and port, as
 *       the request was addressed) is refused 403; browsers send {@code Origin} with every such request, including
 *       a body-less one, so that closes the rest. Clients that are not browsers (curl, scripts) send none and are
 *       not affected.</li>
 * </ul>
 *
 * <p>The Origin rule stays off with authentication on: it would protect nothing there, and a dashboard behind a proxy
 * that rewrites {@code Host} would lose its buttons.
 */
@Provider
@PreMatching
@Priority(Priorities.AUTHENTICATION + 1)
public class StateChangeGuard implements ContainerRequestFilter {

    @Inject
    Credentials credentials;

    /** A refusal: status and the detail a person can act on. */
    record Refusal(int status, String detail) {
    }

    @Override
    public void filter(ContainerRequestContext request) {
        boolean hasBody = request.hasEntity() || request.getHeaderString("Transfer-Encoding") != null;
        String scheme;
        try {
            scheme = request.getUriInfo().getRequestUri().getScheme();
        } catch (RuntimeException e) {
            scheme = "http";
        }
        refusal(request.getMethod(), request.getHeaderString("Origin"), scheme,
                request.getHeaderString(HttpHeaders.HOST), request.getHeaderString(HttpHeaders.CONTENT_TYPE), hasBody,
                credentials.enabled()).ifPresent(refusal -> request.abortWith(Problems.problem(refusal.status(),
                        refusal.status() == 415 ? "Unsupported Media Type" : "Forbidden", refusal.detail(),
                        request.getUriInfo())));
    }

    static Optional<Refusal> refusal(String method, String origin, String scheme, String host, String contentType,
                                     boolean hasBody, boolean authEnabled) {
        if (method == null || HttpMethods.isRead(method)) {
            return Optional.empty();
        }
        if (!authEnabled && origin != null && !sameOrigin(origin, scheme, host)) {
            return Optional.of(new Refusal(403, "authentication is off on this master, so it takes changes only from "
                    + "its own pages and from clients that are not browsers; Origin was '" + SafeText.echo(origin)
                    + "'"));
        }
        boolean json = contentType != null && isJson(contentType);
        if ((contentType != null && !json) || (hasBody && contentType == null)) {
            return Optional.of(new Refusal(415, "a request that changes something takes a body only as "
                    + "application/json (or no body and no Content-Type); Content-Type was "
                    + (contentType == null ? "missing" : "'" + SafeText.echo(contentType) + "'")));
        }
        return Optional.empty();
    }

    private static boolean isJson(String contentType) {
        String type = contentType.split(";", 2)[0].trim().toLowerCase(Locale.ROOT);
        return type.equals("application/json");
    }

    /** Whether {@code origin} is the master's own as this request addressed it: scheme, host and port. */
    static boolean sameOrigin(String origin, String scheme, String host) {
        if (host == null || scheme == null) {
            return false;
        }
        String own = normalize(scheme.toLowerCase(Locale.ROOT) + "://" + host.trim());
        return own != null && own.equals(normalize(origin.trim()));
    }

    /** scheme://host:port, lower case, with the scheme's default port spelt out; null for anything else ("null"). */
    private static String normalize(String origin) {
        String lower = origin.toLowerCase(Locale.ROOT);
        int colonSlashes = lower.indexOf("://");
        if (colonSlashes <= 0) {
            return null;
        }
        String scheme = lower.substring(0, colonSlashes);
        String authority = lower.substring(colonSlashes + 3);
        if (!scheme.equals("http") && !scheme.equals("https") || authority.isEmpty() || authority.contains("/")
                || authority.contains("@")) {
            return null;
        }
        boolean hasPort = authority.startsWith("[") ? authority.contains("]:") : authority.contains(":");
        return scheme + "://" + authority + (hasPort ? "" : scheme.equals("https") ? ":443" : ":80");
    }
}
