package io.taskgrid.master.grpc;

import io.grpc.Attributes;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerTransportFilter;
import io.grpc.Status;
import io.taskgrid.master.config.TaskgridConfig;
import io.taskgrid.master.security.JoinTokenInterceptor;
import io.taskgrid.master.security.RefusalLog;
import io.taskgrid.master.text.SafeText;
import io.taskgrid.proto.WorkerLimits;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;

/**
 * Everything a client holding a join token can make the master hold, bounded per connection, per join token and in
 * all: calls open at once, workers registered, StreamOutput calls, and bytes of output taken and not yet written (the
 * output writer's queue). The limits of one connection are the protocol's ({@link WorkerLimits}); those of a join
 * token and of the master are settings ({@code taskgrid.grpc.token.max.*}, {@code taskgrid.grpc.max.queued.bytes},
 * {@code taskgrid.workers.max}). Calls over a bound are refused {@code RESOURCE_EXHAUSTED} with a description, and
 * logged at most once a minute per kind ({@link RefusalLog}); output over a bound waits (gRPC flow control).
 *
 * <p>Which connection a call came on is an attribute of its transport ({@link #connections()}); which join token it
 * presented is in its context ({@link JoinTokenInterceptor#JOIN_TOKEN}). {@link #calls()} counts the calls and puts
 * both bounds in the call's context for the service.
 */
final class AgentBounds {

    private static final Logger LOG = Logger.getLogger(AgentBounds.class.getName());
    static final Attributes.Key<Connection> CONNECTION_ATTRIBUTE = Attributes.Key.create("taskgrid-agent-connection");
    private static final Context.Key<Connection> CONNECTION = Context.key("taskgrid-agent-connection");
    private static final Context.Key<Token> TOKEN = Context.key("taskgrid-join-token-bounds");

    private final int workersMax;
    private final int tokenMaxCalls;
    private final long tokenMaxBytes;
    private final long maxBytes;
    private final Map<String, Token> tokens = new ConcurrentHashMap<>();
    private final RefusalLog refusedCalls = new RefusalLog(LOG, "call(s) refused");

    /** Guards every count of queued bytes (the master's, the tokens', the connections') and {@link #waiting}. */
    private final Object lock = new Object();
    private long queued;
    private final ArrayDeque<Waiter> waiting = new ArrayDeque<>();

    AgentBounds(TaskgridConfig config) {
        this.workersMax = config.workersMax();
        this.tokenMaxCalls = config.tokenMaxCalls();
        this.tokenMaxBytes = config.tokenMaxQueuedBytes();
        this.maxBytes = config.maxQueuedBytes();
    }

    int workersMax() {
        return workersMax;
    }

    /** One connection of an agent (a transport): what it holds now. */
    static final class Connection {
        private final AtomicInteger workers = new AtomicInteger();
        private final AtomicInteger outputCalls = new AtomicInteger();
        /** Under {@link AgentBounds#lock}. */
        private long queued;
        /** Of {@link #queued}, what final reports hold; under {@link AgentBounds#lock}. */
        private long reports;

        /** Counts a registration; false when the connection has {@link WorkerLimits#MAX_WORKERS_PER_CONNECTION}. */
        boolean tryAddWorker() {
            return tryIncrement(workers, WorkerLimits.MAX_WORKERS_PER_CONNECTION);
        }

        void removeWorker() {
            workers.decrementAndGet();
        }

        /** Counts a StreamOutput call; false when {@link WorkerLimits#MAX_OUTPUT_CALLS_PER_CONNECTION} are open. */
        boolean tryOpenOutputCall() {
            return tryIncrement(outputCalls, WorkerLimits.MAX_OUTPUT_CALLS_PER_CONNECTION);
        }

        void closeOutputCall() {
            outputCalls.decrementAndGet();
        }
    }

    /** What the holders of one join token hold now, over all their connections. */
    static final class Token {
        private final String name;
        private final AtomicInteger calls = new AtomicInteger();
        /** Under {@link AgentBounds#lock}. */
        private long queued;

        Token(String name) {
            this.name = name;
        }
    }

    private static boolean tryIncrement(AtomicInteger count, int max) {
        while (true) {
            int now = count.get();
            if (now >= max) {
                return false;
            }
            if (count.compareAndSet(now, now + 1)) {
                return true;
            }
        }
    }

    Token token(String name) {
        return tokens.computeIfAbsent(name, Token::new);
    }

    /** The connection of the call running now; a connection of its own for a call that came without one. */
    static Connection currentConnection() {
        Connection connection = CONNECTION.get();
        return connection != null ? connection : new Connection();
    }

    /** The join token of the call running now. */
    Token currentToken() {
        Token token = TOKEN.get();
        return token != null ? token : token(JoinTokenInterceptor.NO_AUTHENTICATION);
    }

    /** Gives each transport its {@link Connection}, where every call on it finds it. */
    ServerTransportFilter connections() {
        return new ServerTransportFilter() {
            @Override
            public Attributes transportReady(Attributes attributes) {
                return attributes.toBuilder().set(CONNECTION_ATTRIBUTE, new Connection()).build();
            }
        };
    }

    /**
     * Counts the calls of each join token, refusing those past {@code taskgrid.grpc.token.max.calls}, and puts the
     * call's connection and join token in its context. Runs after {@link JoinTokenInterceptor}. A call stops counting
     * when the master closes it (before its status is sent, so that an agent never sees room the master has not
     * made yet) or the client cancels it.
     */
    ServerInterceptor calls() {
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                               ServerCallHandler<Q, R> next) {
                String name = JoinTokenInterceptor.JOIN_TOKEN.get();
                Token token = token(name != null ? name : JoinTokenInterceptor.NO_AUTHENTICATION);
                Connection found = call.getAttributes().get(CONNECTION_ATTRIBUTE);
                Connection connection = found != null ? found : new Connection();
                if (!tryIncrement(token.calls, tokenMaxCalls)) {
                    refusedCalls.warn(() -> "refused an agent call (" + call.getMethodDescriptor().getBareMethodName()
                            + ") from " + call.getAttributes().get(io.grpc.Grpc.TRANSPORT_ATTR_REMOTE_ADDR)
                            + ": its join token" + describe(token) + " has " + tokenMaxCalls + " calls open "
                            + "(taskgrid.grpc.token.max.calls)");
                    call.close(Status.RESOURCE_EXHAUSTED.withDescription("the holders of this join token have "
                            + tokenMaxCalls + " calls open, the most the master takes "
                            + "(taskgrid.grpc.token.max.calls); try again once some have ended"), new Metadata());
                    return new ServerCall.Listener<>() {
                    };
                }
                AtomicBoolean counted = new AtomicBoolean(true);
                Runnable release = () -> {
                    if (counted.compareAndSet(true, false)) {
                        token.calls.decrementAndGet();
                    }
                };
                ServerCall<Q, R> releasing = new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
                    @Override
                    public void close(Status status, Metadata trailers) {
                        release.run();
                        super.close(status, trailers);
                    }
                };
                Context context = Context.current().withValue(CONNECTION, connection).withValue(TOKEN, token);
                ServerCall.Listener<Q> listener;
                try {
                    listener = Contexts.interceptCall(context, releasing, headers, next);
                } catch (RuntimeException | Error e) {
                    release.run();
                    throw e;
                }
                return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(listener) {
                    @Override
                    public void onCancel() {
                        try {
                            super.onCancel();
                        } finally {
                            release.run();
                        }
                    }

                    @Override
                    public void onComplete() {
                        try {
                            super.onComplete();
                        } finally {
                            release.run();
                        }
                    }
                };
            }
        };
    }

    static String describe(Token token) {
        return token.name.isEmpty() ? "" : " '" + SafeText.oneLine(token.name, 64) + "'";
    }

    // ---- output taken and not yet written ----

    /** Whether one more of {@code bytes} fits under {@code max} with {@code used} taken: anything fits an empty one. */
    private static boolean fits(long used, long bytes, long max) {
        return used == 0 || used + bytes <= max;
    }

    private boolean fitsAll(Connection connection, Token token, long bytes) {
        return fits(queued, bytes, maxBytes) && fits(token.queued, bytes, tokenMaxBytes)
                && fits(connection.queued, bytes, WorkerLimits.MAX_QUEUED_BYTES_PER_CONNECTION);
    }

    private void takeUnderLock(Connection connection, Token token, long bytes) {
        queued += bytes;
        token.queued += bytes;
        connection.queued += bytes;
    }

    /**
     * Takes {@code bytes} from the connection's, the join token's and the master's bounds, or nothing. One amount
     * larger than a bound is taken while nothing else is (a final report may carry more than one connection's bound).
     */
    boolean tryTake(Connection connection, Token token, long bytes) {
        synchronized (lock) {
            if (!fitsAll(connection, token, bytes)) {
                return false;
            }
            takeUnderLock(connection, token, bytes);
            return true;
        }
    }

    /**
     * Takes a final report's output, or nothing. A report may carry more than a connection's bound (both streams at
     * the output cap, one gRPC message), and the connection's output call holds a chunk's worth while it waits for the
     * next one, so a report could never wait for the connection to be empty: one report at a time is taken above the
     * connection's bound, the join token's and the master's bounds holding as for chunks.
     */
    boolean tryTakeReport(Connection connection, Token token, long bytes) {
        synchronized (lock) {
            boolean fitsConnection = connection.reports == 0
                    || fits(connection.queued, bytes, WorkerLimits.MAX_QUEUED_BYTES_PER_CONNECTION);
            if (!fitsConnection || !fits(queued, bytes, maxBytes) || !fits(token.queued, bytes, tokenMaxBytes)) {
                return false;
            }
            takeUnderLock(connection, token, bytes);
            connection.reports += bytes;
            return true;
        }
    }

    /** Gives back what {@link #tryTakeReport} took. */
    void giveReport(Connection connection, Token token, long bytes) {
        if (bytes <= 0) {
            return;
        }
        synchronized (lock) {
            connection.reports -= bytes;
        }
        give(connection, token, bytes);
    }

    /** Gives back what {@link #tryTake} or {@link #takeWhenFree} took; a waiting taker it makes room for goes on. */
    void give(Connection connection, Token token, long bytes) {
        if (bytes <= 0) {
            return;
        }
        List<Runnable> granted = new ArrayList<>();
        synchronized (lock) {
            queued -= bytes;
            token.queued -= bytes;
            connection.queued -= bytes;
            for (Iterator<Waiter> it = waiting.iterator(); it.hasNext(); ) {
                Waiter waiter = it.next();
                if (waiter.cancelled) {
                    it.remove();
                } else if (fitsAll(waiter.connection, waiter.token, waiter.bytes)) {
                    takeUnderLock(waiter.connection, waiter.token, waiter.bytes);
                    waiter.taken = true;
                    it.remove();
                    granted.add(waiter.granted);
                } else if (!fits(queued, waiter.bytes, maxBytes)) {
                    break;
                }
            }
        }
        // Outside the lock: a grant asks gRPC for the next chunk, and may come back here.
        granted.forEach(Runnable::run);
    }

    /** A taker that waits for room; {@link #cancel()} when it no longer wants it. */
    static final class Waiter {
        private final Connection connection;
        private final Token token;
        private final long bytes;
        private final Runnable granted;
        private volatile boolean cancelled;
        private volatile boolean taken;

        private Waiter(Connection connection, Token token, long bytes, Runnable granted) {
            this.connection = connection;
            this.token = token;
            this.bytes = bytes;
            this.granted = granted;
        }

        void cancel() {
            cancelled = true;
        }

        /** Neither granted nor cancelled yet. */
        boolean isWaiting() {
            return !taken && !cancelled;
        }
    }

    /**
     * Takes {@code bytes} now or as soon as there is room (waiters in the order they asked), then runs
     * {@code granted}, on this thread when there is room now. The caller gives the bytes back (and must, even once it
     * has cancelled: a grant may have run meanwhile).
     */
    Waiter takeWhenFree(Connection connection, Token token, long bytes, Runnable granted) {
        Waiter waiter = new Waiter(connection, token, bytes, granted);
        boolean now;
        synchronized (lock) {
            // Takers wait for the same amount (a chunk), so one that fits now passes only takers held up by their
            // own connection or join token, never one held up by the master's bound.
            now = fitsAll(connection, token, bytes);
            if (now) {
                takeUnderLock(connection, token, bytes);
                waiter.taken = true;
            } else {
                waiting.add(waiter);
            }
        }
        if (now) {
            granted.run();
        }
        return waiter;
    }
}
