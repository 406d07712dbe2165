package io.taskgrid.master.security;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;

import java.util.Optional;
import java.util.function.LongSupplier;
import java.util.logging.Logger;

/**
 * An agent must present a join token before any call of the protocol runs: a client without one receives no
 * assignment and cannot report, drain or register. The token travels as call credentials, in the
 * {@code authorization} header. The name of the token a call used (never the token) is in the call's context under
 * {@link #JOIN_TOKEN}, for the bounds the master keeps per join token.
 *
 * <p>Refusals are logged at most once per {@link #LOG_INTERVAL_NANOS}, each line with the number refused since the
 * one before ({@link RefusalLog}): an agent with a wrong token retries every few seconds, and anyone who can reach the
 * port can call as fast as the master answers, so a line per refusal would let a client without a token write the log
 * full.
 */
public final class JoinTokenInterceptor implements ServerInterceptor {

    private static final Logger LOG = Logger.getLogger(JoinTokenInterceptor.class.getName());
    public static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    /** The name of the join token the call presented; {@link #NO_AUTHENTICATION} when authentication is off. */
    public static final Context.Key<String> JOIN_TOKEN = Context.key("taskgrid-join-token-name");
    /** What {@link #JOIN_TOKEN} holds on a master without authentication: every call shares its bounds. */
    public static final String NO_AUTHENTICATION = "";
    static final long LOG_INTERVAL_NANOS = RefusalLog.INTERVAL_NANOS;

    private final Credentials credentials;
    private final RefusalLog refusals;

    public JoinTokenInterceptor(Credentials credentials) {
        this(credentials, System::nanoTime);
    }

    JoinTokenInterceptor(Credentials credentials, LongSupplier nanoClock) {
        this.credentials = credentials;
        this.refusals = new RefusalLog(LOG, "call(s) refused", nanoClock);
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                       ServerCallHandler<Q, R> next) {
        if (!credentials.enabled()) {
            return Contexts.interceptCall(Context.current().withValue(JOIN_TOKEN, NO_AUTHENTICATION), call, headers,
                    next);
        }
        String header = headers.get(AUTHORIZATION);
        String token = header != null && header.regionMatches(true, 0, "Bearer ", 0, 7) ? header.substring(7).trim() : null;
        Optional<String> name = token == null ? Optional.empty() : credentials.joinTokenName(token);
        if (name.isEmpty()) {
            refusals.warn(() -> "refused an agent call (" + call.getMethodDescriptor().getBareMethodName() + ") from "
                    + call.getAttributes().get(io.grpc.Grpc.TRANSPORT_ATTR_REMOTE_ADDR) + ": "
                    + (token == null ? "no join token" : "unknown join token"));
            call.close(Status.UNAUTHENTICATED.withDescription(token == null
                    ? "no join token: give the agent one (--token-file or TASKGRID_JOIN_TOKEN)"
                    : "the join token is not valid on this master"), new Metadata());
            return new ServerCall.Listener<>() {
            };
        }
        return Contexts.interceptCall(Context.current().withValue(JOIN_TOKEN, name.get()), call, headers, next);
    }
}
