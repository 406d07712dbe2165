package io.taskgrid.agent;

import io.grpc.CallCredentials;
import io.grpc.Metadata;
import io.grpc.SecurityLevel;
import io.grpc.Status;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;

/**
 * Puts the agent's join token on every call, as {@code authorization: Bearer <token>}, but never in clear to another
 * machine: over a connection without TLS the token goes only to a master on this machine, unless the operator said
 * the network is trusted ({@code --plaintext}). Anyone on the path could otherwise read the token and join the pool.
 */
final class JoinTokenCredentials extends CallCredentials {

    private static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private final String token;
    private final boolean plaintextAllowed;
    /** authority to whether its host is this machine; resolving once per authority, not per call. */
    private final Map<String, Boolean> loopback = new ConcurrentHashMap<>();

    JoinTokenCredentials(String token, boolean plaintextAllowed) {
        this.token = token;
        this.plaintextAllowed = plaintextAllowed;
    }

    @Override
    public void applyRequestMetadata(RequestInfo info, Executor executor, MetadataApplier applier) {
        Metadata headers = new Metadata();
        if (token == null) {
            applier.apply(headers);
            return;
        }
        if (info.getSecurityLevel() != SecurityLevel.PRIVACY_AND_INTEGRITY && !plaintextAllowed
                && !loopback.computeIfAbsent(info.getAuthority(), JoinTokenCredentials::isLoopback)) {
            applier.fail(Status.UNAUTHENTICATED.withDescription("this agent does not send its join token in clear to "
                    + info.getAuthority() + ": connect with TLS (--tls-ca), or give --plaintext on a network you trust"));
            return;
        }
        headers.put(AUTHORIZATION, "Bearer " + token);
        applier.apply(headers);
    }

    /** Whether every address of the authority's host is a loopback address; an unknown host is not. */
    static boolean isLoopback(String authority) {
        String host = authority;
        int colon = authority.lastIndexOf(':');
        if (colon > 0 && authority.indexOf(']') < colon) {
            host = authority.substring(0, colon);
        }
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        try {
            InetAddress[] addresses = InetAddress.getAllByName(host);
            for (InetAddress address : addresses) {
                if (!address.isLoopbackAddress()) {
                    return false;
                }
            }
            return addresses.length > 0;
        } catch (UnknownHostException e) {
            return false;
        }
    }
}
