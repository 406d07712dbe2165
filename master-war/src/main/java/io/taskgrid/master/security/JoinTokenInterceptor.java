package io.taskgrid.master.security;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;

import java.util.logging.Logger;

/**
 * An agent must present a join token before any call of the protocol runs: a client without one receives no
 * assignment and cannot report, drain or register. The token travels as call credentials, in the
 * {@code authorization} header.
 */
public final class JoinTokenInterceptor implements ServerInterceptor {

    private static final Logger LOG = Logger.getLogger(JoinTokenInterceptor.class.getName());
    public static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private final Credentials credentials;

    public JoinTokenInterceptor(Credentials credentials) {
        this.credentials = credentials;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                       ServerCallHandler<Q, R> next) {
        if (!credentials.enabled()) {
            return next.startCall(call, headers);
        }
        String header = headers.get(AUTHORIZATION);
        String token = header != null && header.regionMatches(true, 0, "Bearer ", 0, 7) ? header.substring(7).trim() : null;
        if (token == null || credentials.joinTokenName(token).isEmpty()) {
            LOG.warning(() -> "refused an agent call (" + call.getMethodDescriptor().getBareMethodName() + ") from "
                    + call.getAttributes().get(io.grpc.Grpc.TRANSPORT_ATTR_REMOTE_ADDR) + ": "
                    + (token == null ? "no join token" : "unknown join token"));
            call.close(Status.UNAUTHENTICATED.withDescription(token == null
                    ? "no join token: give the agent one (--token-file or TASKGRID_JOIN_TOKEN)"
                    : "the join token is not valid on this master"), new Metadata());
            return new ServerCall.Listener<>() {
            };
        }
        return next.startCall(call, headers);
    }
}
