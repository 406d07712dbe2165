package io.taskgrid.master.security;

import io.taskgrid.master.config.TaskgridConfig;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Locale;
import java.util.logging.Logger;
import java.util.regex.Pattern;

/**
 * Whether tokens may cross a network in clear. They may not by default: a master that listens beyond loopback must use
 * TLS for gRPC (or it does not start) and answers plain-HTTP REST calls from other machines with 403. An operator who
 * terminates TLS elsewhere, or runs on a network they trust, says so with {@code taskgrid.tls.insecure.allowed=true},
 * and the master warns at every start.
 */
@ApplicationScoped
public class TransportPolicy {

    private static final Logger LOG = Logger.getLogger(TransportPolicy.class.getName());

    private String listenHost;
    private boolean insecureAllowed;

    @Inject
    public TransportPolicy(TaskgridConfig config) {
        this(config.listenHost(), config.insecureAllowed());
    }

    TransportPolicy(String listenHost, boolean insecureAllowed) {
        this.listenHost = listenHost.trim();
        this.insecureAllowed = insecureAllowed;
    }

    /** For the CDI proxy only. */
    protected TransportPolicy() {
    }

    public boolean insecureAllowed() {
        return insecureAllowed;
    }

    /** True unless {@code taskgrid.listen.host} names this machine's loopback interface only. */
    public boolean listensBeyondLoopback() {
        return !isLoopbackName(listenHost);
    }

    /** Called before the gRPC port opens; throws when it would carry join tokens in clear to other machines. */
    public void checkGrpc(boolean tls) {
        if (tls || !listensBeyondLoopback()) {
            return;
        }
        String what = "taskgrid.listen.host is '" + listenHost + "', beyond loopback, and gRPC has no TLS "
                + "(taskgrid.grpc.tls.cert, taskgrid.grpc.tls.key): agents' join tokens, and every task's command and "
                + "secretEnv, would cross the network in clear";
        if (!insecureAllowed) {
            throw new IllegalStateException("refusing to start: " + what + ". Configure TLS (see docs/security.md, TLS), "
                    + "or set taskgrid.tls.insecure.allowed=true on a network you trust");
        }
        LOG.warning("TASKGRID SECURITY WARNING: " + what + " (allowed by taskgrid.tls.insecure.allowed=true)");
    }

    /**
     * localhost, a name under .localhost, an address in 127.0.0.0/8 or ::1, with or without brackets. Names are
     * judged by their text, not resolved: that is the point when the name comes from a browser's Host header.
     */
    public static boolean isLoopbackName(String host) {
        String h = host.trim().toLowerCase(Locale.ROOT);
        if (h.startsWith("[") && h.endsWith("]")) {
            h = h.substring(1, h.length() - 1);
        }
        if (h.equals("localhost") || h.endsWith(".localhost")) {
            return true;
        }
        if (h.matches("127(\\.\\d{1,3}){3}") || h.matches("[0:]*:0*1")) {
            try {
                return InetAddress.getByName(h).isLoopbackAddress();
            } catch (UnknownHostException e) {
                return false;
            }
        }
        return false;
    }

    /** The host part of a Host header ({@code name}, {@code name:port}, {@code [v6]:port}); empty text stays empty. */
    /**
     * Whether a Host header is a DNS name, an IPv4 address or a bracketed IPv6 address, with an optional port: what a
     * client that addresses this server sends. Anything else (spaces, quotes, backslashes, an unclosed bracket) is
     * refused before the server tries to build a URI from it.
     */
    public static boolean isWellFormedHostHeader(String header) {
        return WELL_FORMED_HOST.matcher(header).matches();
    }

    private static final Pattern WELL_FORMED_HOST =
            Pattern.compile("(\\[[0-9A-Fa-f:.]{2,45}]|[A-Za-z0-9._~-]{1,253})(:[0-9]{1,5})?");

    public static String hostOfHeader(String header) {
        String h = header.trim();
        if (h.startsWith("[")) {
            int end = h.indexOf(']');
            return end < 0 ? h : h.substring(0, end + 1);
        }
        int colon = h.indexOf(':');
        return colon < 0 ? h : h.substring(0, colon);
    }
}
