package io.taskgrid.master.security;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;

import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.logging.Logger;

/**
 * An agent must present a join token before any call of the protocol runs: a client without one receives no
 * assignment and cannot report, drain or register. The token travels as call credentials, in the
 * {@code authorization} header.
 *
 * <p>Refusals are logged at most once per {@link #LOG_INTERVAL_NANOS}, each line with the number refused since the
 * one before: an agent with a wrong token retries every few seconds, and anyone who can reach the port can call as
 * fast as the master answers, so a line per refusal would let a client without a token write the log full.
 */
public final class JoinTokenInterceptor implements ServerInterceptor {

    private static final Logger LOG = Logger.getLogger(JoinTokenInterceptor.class.getName());
    public static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    static final long LOG_INTERVAL_NANOS = TimeUnit.MINUTES.toNanos(1);

    private final Credentials credentials;
    private final LongSupplier nanoClock;
    private long nextLog;
    private long unlogged;

    public JoinTokenInterceptor(Credentials credentials) {
        this(credentials, System::nanoTime);
    }

    JoinTokenInterceptor(Credentials credentials, LongSupplier nanoClock) {
        this.credentials = credentials;
        this.nanoClock = nanoClock;
        this.nextLog = nanoClock.getAsLong();
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
            long before = refusedSinceLastLine();
            if (before >= 0) {
                LOG.warning(() -> "refused an agent call (" + call.getMethodDescriptor().getBareMethodName() + ") from "
                        + call.getAttributes().get(io.grpc.Grpc.TRANSPORT_ATTR_REMOTE_ADDR) + ": "
                        + (token == null ? "no join token" : "unknown join token")
                        + (before == 0 ? "" : "; " + before + " more call(s) refused since the last such line"));
            }
            call.close(Status.UNAUTHENTICATED.withDescription(token == null
                    ? "no join token: give the agent one (--token-file or TASKGRID_JOIN_TOKEN)"
                    : "the join token is not valid on this master"), new Metadata());
            return new ServerCall.Listener<>() {
            };
        }
        return next.startCall(call, headers);
    }

    /** -1 when this refusal goes unlogged; else how many went unlogged before it (and the count starts again). */
    private synchronized long refusedSinceLastLine() {
        long now = nanoClock.getAsLong();
        if (now - nextLog < 0) {
            unlogged++;
            return -1;
        }
        nextLog = now + LOG_INTERVAL_NANOS;
        long before = unlogged;
        unlogged = 0;
        return before;
    }
}
