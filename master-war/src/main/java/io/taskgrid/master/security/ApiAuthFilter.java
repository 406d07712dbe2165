package io.taskgrid.master.security;

import io.taskgrid.master.config.TaskgridConfig;
import io.taskgrid.master.http.Problems;
import io.taskgrid.master.text.SafeText;
import jakarta.annotation.Priority;
import jakarta.inject.Inject;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.ws.rs.Priorities;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerRequestFilter;
import jakarta.ws.rs.container.PreMatching;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.ext.Provider;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Optional;

/**
 * Authentication, before a request is matched to an endpoint: every REST call needs a bearer API token (or a JWT from
 * the configured identity provider), which names the caller and its role. Whether that role suffices is
 * {@link RoleCheck}'s question, asked of the endpoint's own {@link RequiresRole}. The health checks are not served
 * through here and stay open. Refusals are problem+json, 401 with {@code WWW-Authenticate}; they say no more than that.
 */
@Provider
@PreMatching
@Priority(Priorities.AUTHENTICATION)
public class ApiAuthFilter implements ContainerRequestFilter {

    @Inject
    Credentials credentials;

    @Inject
    JwtVerifier jwt;

    @Inject
    TransportPolicy transport;

    @Inject
    TaskgridConfig config;

    @Context
    HttpServletRequest servletRequest;

    @Override
    public void filter(ContainerRequestContext request) {
        String hostHeader = request.getHeaderString(HttpHeaders.HOST);
        if (hostHeader != null && !hostHeader.isEmpty() && !TransportPolicy.isWellFormedHostHeader(hostHeader)) {
            // The server builds the request's URI from Host; a malformed one made that fail in every later step, the
            // error page's own included, and the caller got a 500 with a stack trace in the log for no token at all.
            request.abortWith(Problems.problem(400, "Bad Request", "the Host header is not a host name with an "
                    + "optional port: '" + SafeText.echo(hostHeader) + "'", null));
            return;
        }
        if (!credentials.enabled()) {
            if (!fromLoopback()) {
                request.abortWith(problem(request, 403, "Forbidden",
                        "authentication is off on this master, so it answers this machine only", null));
                return;
            }
            // A web page elsewhere can point its own name at 127.0.0.1 (DNS rebinding) and so reach this port from a
            // browser on this machine; such requests carry that name in Host, and are refused.
            String host = request.getHeaderString(HttpHeaders.HOST);
            if (host != null && !TransportPolicy.isLoopbackName(TransportPolicy.hostOfHeader(host))) {
                request.abortWith(problem(request, 403, "Forbidden", "authentication is off on this master, so it "
                        + "answers only requests addressed to localhost; Host was '" + SafeText.echo(host) + "'", null));
                return;
            }
            setCaller(request, new TokenFile.Caller("anonymous", Role.OPERATOR));
            return;
        }
        if (isPublicScrape(request)) {
            // No token crosses the network, so plain HTTP is fine here too; the caller reads metrics and nothing else.
            setCaller(request, new TokenFile.Caller("metrics-scraper", Role.VIEWER));
            return;
        }
        if (!isSecure(request) && !transport.insecureAllowed() && !fromLoopback()) {
            request.abortWith(problem(request, 403, "Forbidden", "this master takes API calls from other machines "
                    + "over HTTPS only, so that tokens do not cross the network in clear "
                    + "(taskgrid.https.port; or taskgrid.tls.insecure.allowed=true on a network you trust)", null));
            return;
        }
        String header = request.getHeaderString(HttpHeaders.AUTHORIZATION);
        if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            request.abortWith(problem(request, 401, "Unauthorized",
                    "send an API token: Authorization: Bearer <token>", "Bearer realm=\"taskgrid\""));
            return;
        }
        String token = header.substring(7).trim();
        Optional<TokenFile.Caller> caller;
        if (JwtVerifier.looksLikeJwt(token)) {
            Optional<JwtVerifier.Verdict> verdict = jwt.verify(token);
            if (verdict.isPresent() && verdict.get().caller() == null) {
                boolean unauthenticated = verdict.get().status() == 401;
                request.abortWith(problem(request, verdict.get().status(), unauthenticated ? "Unauthorized"
                        : "Forbidden", verdict.get().problem(), unauthenticated
                        ? "Bearer realm=\"taskgrid\", error=\"invalid_token\"" : null));
                return;
            }
            caller = verdict.map(JwtVerifier.Verdict::caller);
        } else {
            try {
                caller = credentials.apiCaller(token);
            } catch (ApiTokens.Unavailable e) {
                request.abortWith(Response.fromResponse(problem(request, 503, "Service Unavailable",
                        "the token cannot be checked now (the database does not answer); try again", null))
                        .header("Retry-After", "5").build());
                return;
            }
        }
        if (caller.isEmpty()) {
            request.abortWith(problem(request, 401, "Unauthorized", "the API token is not valid",
                    "Bearer realm=\"taskgrid\", error=\"invalid_token\""));
            return;
        }
        setCaller(request, caller.get());
    }

    /**
     * A GET of {@code /metrics} without a token, on a master whose operator opened that one endpoint
     * ({@code taskgrid.metrics.public}). Decided before matching, so on the exact path: any other path, or a request
     * that brings a token (checked as usual), goes the usual way.
     */
    private boolean isPublicScrape(ContainerRequestContext request) {
        if (!config.metricsPublic() || request.getHeaderString(HttpHeaders.AUTHORIZATION) != null
                || !("GET".equals(request.getMethod()) || "HEAD".equals(request.getMethod()))) {
            return false;
        }
        String path = request.getUriInfo().getPath();
        return "metrics".equals(path) || "/metrics".equals(path);
    }

    private static void setCaller(ContainerRequestContext request, TokenFile.Caller caller) {
        boolean secure = request.getSecurityContext() != null && request.getSecurityContext().isSecure();
        request.setSecurityContext(new ApiCaller(caller, secure));
    }

    private boolean isSecure(ContainerRequestContext request) {
        return (servletRequest != null && servletRequest.isSecure())
                || "https".equalsIgnoreCase(request.getUriInfo().getRequestUri().getScheme());
    }

    private boolean fromLoopback() {
        try {
            return servletRequest != null && InetAddress.getByName(servletRequest.getRemoteAddr()).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    private static Response problem(ContainerRequestContext request, int status, String title, String detail,
                                    String challenge) {
        Response problem = Problems.problem(status, title, detail, request.getUriInfo());
        return challenge == null ? problem
                : Response.fromResponse(problem).header(HttpHeaders.WWW_AUTHENTICATE, challenge).build();
    }
}
