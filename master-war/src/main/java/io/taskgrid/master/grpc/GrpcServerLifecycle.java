package io.taskgrid.master.grpc;

import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptors;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.MultiThreadIoEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.nio.NioIoHandler;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioServerSocketChannel;
import io.grpc.netty.shaded.io.netty.handler.ssl.ClientAuth;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContextBuilder;
import io.taskgrid.master.cluster.ClusterRequests;
import io.taskgrid.master.cluster.DispatchLease;
import io.taskgrid.master.cluster.HousekeepingLeader;
import io.taskgrid.master.cluster.InboxWakeups;
import io.taskgrid.master.cluster.MasterLeases;
import io.taskgrid.master.cluster.MasterRole;
import io.taskgrid.master.cluster.ThisMaster;
import io.taskgrid.master.config.InvalidSettings;
import io.taskgrid.master.config.TaskgridConfig;
import io.taskgrid.master.dispatch.Dispatcher;
import io.taskgrid.master.dispatch.GoneMasterReaper;
import io.taskgrid.master.dispatch.InboxReader;
import io.taskgrid.master.dispatch.PublishedWorkers;
import io.taskgrid.master.dispatch.WorkerRegistry;
import io.taskgrid.master.output.OutputStore;
import io.taskgrid.master.security.Credentials;
import io.taskgrid.master.security.JoinTokenInterceptor;
import io.taskgrid.master.security.JwtVerifier;
import io.taskgrid.master.security.MasterFiles;
import io.taskgrid.master.security.TransportPolicy;
import io.taskgrid.master.task.Retention;
import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.task.WriteFence;
import io.taskgrid.master.text.SafeText;
import io.taskgrid.proto.Keepalive;
import io.taskgrid.proto.WorkerLimits;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import jakarta.annotation.Resource;
import jakarta.enterprise.concurrent.ManagedThreadFactory;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.context.BeforeDestroyed;
import jakarta.enterprise.context.Initialized;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;

import javax.net.ssl.SSLException;
import java.io.File;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;
import java.util.regex.Pattern;

/**
 * The master's start and stop, in the one order that is safe: security settings checked (a master that would accept
 * anyone, or send tokens in clear, does not start); the database schema brought up to date and the unfinished tasks
 * taken over (their attempts in flight get the grace period from now); then the gRPC port opens for agents. On stop,
 * dispatch stops first (streams closing because the master stops are no lost workers), then the port, then the
 * writer writes what it holds.
 *
 * <p>The Netty event loops and the call executor are owned here so that stopping the application stops every thread the
 * server started.
 */
@ApplicationScoped
public class GrpcServerLifecycle {

    private static final Logger LOG = Logger.getLogger(GrpcServerLifecycle.class.getName());

    @Inject
    NodeService nodeService;

    @Inject
    Dispatcher dispatcher;

    @Inject
    TaskStore store;

    @Inject
    Credentials credentials;

    @Inject
    JwtVerifier jwt;

    @Inject
    TransportPolicy transport;

    @Inject
    TaskgridConfig config;

    @Inject
    Retention retention;

    @Inject
    ThisMaster thisMaster;

    @Inject
    OutputStore outputs;

    @Inject
    WorkerRegistry registry;

    @Resource(lookup = "java:comp/DefaultManagedThreadFactory")
    ManagedThreadFactory threadFactory;

    /** Threads for gRPC calls: they never block for long (answers come from the group commit's thread). */
    static final int GRPC_THREADS = 4;

    private ExecutorService executor;
    private volatile GrpcServer server;
    private EventLoopGroup bossGroup;
    private EventLoopGroup workerGroup;
    private volatile boolean started;
    private MasterRole role;
    private boolean severalMasters;
    /** While active among several masters: takes what the others stored for this one, and shows them its agents. */
    private InboxWakeups inbox;
    private PublishedWorkers published;
    /** Sharing its database: whether this master runs the cluster's housekeeping, and what that is. */
    private HousekeepingLeader leader;
    private volatile GoneMasterReaper reaper;
    /** Runs claims asked for when this master's agents have room, one at a time, folded together. */
    private ExecutorService claims;
    /** Takes attempts that agents bring from masters that are gone. */
    private java.util.concurrent.ScheduledExecutorService reclaims;
    private final java.util.concurrent.atomic.AtomicBoolean claimAsked = new java.util.concurrent.atomic.AtomicBoolean();
    /** Set when the master stops: the gRPC server does not start again, whatever the lease's turns say. */
    private volatile boolean stopping;

    void onStart(@Observes @Initialized(ApplicationScoped.class) Object event) {
        try {
            config.warnings().forEach(warning -> LOG.warning("TASKGRID SETTINGS WARNING: " + warning));
            MasterFiles.secureDirectoriesOf(List.of(Path.of(config.tokensFile()), Path.of(config.secretKeyFile())));
            credentials.initialize();
            jwt.enabled();
            if (credentials.enabled()) {
                // Without authentication gRPC binds to 127.0.0.1 whatever the listen host (below).
                transport.checkGrpc(config.grpcTlsCert().isPresent() || config.grpcTlsKey().isPresent());
            }
            boolean keyFileExisted = Files.exists(Path.of(config.secretKeyFile()));
            store.open();
            checkSecretKeys(keyFileExisted);
            Duration leaseTime = Duration.ofSeconds(config.masterLeaseSeconds());
            DispatchLease housekeeping = new DispatchLease(store.dataSource(), leaseTime.dividedBy(2));
            try {
                severalMasters = housekeeping.driver().allowsSeveralMasters();
            } catch (java.sql.SQLException e) {
                throw new IllegalStateException("cannot tell the database's kind: " + e.getMessage(), e);
            }
            String id = masterId(config);
            // Alone on its database (H2), a master holds the one lease; sharing it, each holds its own, and every one
            // dispatches to its own agents, while the holder of the other lease runs the cluster's housekeeping.
            role = new MasterRole(id, severalMasters ? DispatchLease.forMaster(store.dataSource(),
                    leaseTime.dividedBy(2), id) : housekeeping, leaseTime, System::nanoTime, new Turns());
            if (severalMasters) {
                leader = new HousekeepingLeader(id, housekeeping, leaseTime, System::nanoTime, new Housekeeping());
            }
            thisMaster.joined(role, severalMasters);
            // Active at once when the lease is free (always on H2); otherwise a standby, which takes over later.
            role.join();
            role.start(threadFactory);
        } catch (RuntimeException e) {
            String cause = cause(e, config);
            LOG.severe("Taskgrid master not started: " + cause);
            stopQuietly();
            throw new MasterNotStarted(cause);
        }
        started = true;
    }

    /**
     * This master's name among the masters of its database: {@code taskgrid.master.id}, or the host's name and the
     * HTTP port, which stays the same across restarts (a restarted master takes back its own lease at once).
     */
    static String masterId(TaskgridConfig config) {
        String id = config.masterId().orElseGet(() -> {
            String host;
            try {
                host = InetAddress.getLocalHost().getHostName();
            } catch (java.net.UnknownHostException e) {
                host = "localhost";
            }
            return host + ":" + (config.httpPort() > 0 ? config.httpPort() : config.grpcPort());
        });
        if (id.length() > 128 || !id.matches("[A-Za-z0-9._:@\\[\\]-]+")) {
            throw new IllegalStateException("taskgrid.master.id (TASKGRID_MASTER_ID) '" + SafeText.oneLine(id, 40)
                    + "...' must be 1 to 128 letters, digits and . _ : @ - [ ]");
        }
        return id;
    }

    /** What this master does as its role changes: see {@link MasterRole}. */
    private final class Turns implements MasterRole.Listener {

        @Override
        public void becameActive() {
            WriteFence fence = role.fence();
            store.writer().fence(fence, role.id(), role::fencedOff);
            outputs.fence(fence);
            dispatcher.handOutOnlyWhile(role::mayDispatch);
            dispatcher.start(severalMasters ? config.masterLeaseSeconds() : 0);
            if (!severalMasters) {
                retention.start();
            }
            startGrpc();
            dispatcher.requestDispatch();
            if (severalMasters) {
                listenToOtherMasters(fence);
                reaper = new GoneMasterReaper(new MasterLeases(store.dataSource(), leaseTime().dividedBy(2)), store,
                        dispatcher, fence, Duration.ofSeconds(config.lostAfterSeconds()).plus(leaseTime()));
                startLeading();
            }
        }

        @Override
        public void away() {
            dispatcher.sendWorkersAway();
            stopGrpc();
        }

        @Override
        public void back() {
            startGrpc();
            dispatcher.welcomeWorkersBack();
        }

        @Override
        public void resumed() {
            dispatcher.requestDispatch();
        }

        @Override
        public void deposed(String why) {
            stopLeading();
            retention.stop();
            stopGrpc();
            stopListeningToOtherMasters(false);
            dispatcher.stop();
        }
    }

    private Duration leaseTime() {
        return Duration.ofSeconds(config.masterLeaseSeconds());
    }

    /** What the housekeeping leader does: retention on its schedule, gone masters every turn. */
    private final class Housekeeping implements HousekeepingLeader.Duties {
        @Override
        public void lead() {
            retention.start();
        }

        @Override
        public void stepDown() {
            retention.stop();
        }

        @Override
        public void turn() {
            GoneMasterReaper now = reaper;
            if (now != null && role.mayDispatch()) {
                now.turn();
            }
        }
    }

    private synchronized void startLeading() {
        if (!stopping && leader != null) {
            leader.start(threadFactory);
        }
    }

    private synchronized void stopLeading() {
        if (leader != null) {
            leader.close();
        }
    }

    /**
     * Claims, from now on, the tasks any master stored (as many as this master's agents have room for), carries out
     * the cancels and drains stored for what it holds, and publishes its agents for the others' {@code GET /workers}.
     * After the unfinished tasks were loaded: what waits is claimed by the first pass.
     */
    private synchronized void listenToOtherMasters(WriteFence fence) {
        if (stopping || inbox != null) {
            return;
        }
        published = new PublishedWorkers(store.dataSource(), registry, role.id()).start(threadFactory);
        InboxReader reader = new InboxReader(store, new ClusterRequests(store.dataSource()), dispatcher, registry, fence,
                published::publishNow, Duration.ofSeconds(config.lostAfterSeconds()));
        claims = Executors.newSingleThreadExecutor(threadFactory);
        reclaims = Executors.newScheduledThreadPool(2, threadFactory);
        ExecutorService claiming = claims;
        dispatcher.shareWithOtherMasters(() -> {
            if (claimAsked.compareAndSet(false, true)) {
                try {
                    claiming.execute(() -> {
                        claimAsked.set(false);
                        try {
                            reader.takeAll();
                        } catch (RuntimeException e) {
                            LOG.fine(() -> "a claim for free room failed (the next wake-up tries again): " + e);
                        }
                    });
                } catch (java.util.concurrent.RejectedExecutionException e) {
                    claimAsked.set(false);
                }
            }
        }, attempts -> store.reclaim(attempts, Dispatcher.SPEC_IN_MEMORY_CHARS, fence), reclaims,
                leaseTime().plus(leaseTime().dividedBy(5)));
        inbox = new InboxWakeups(store.dataSource(), INBOX_SWEEP, INBOX_POLL, reader::takeAll, threadFactory).start();
    }

    /** How often the active master looks for changes other masters stored, in case a notification was lost. */
    static final Duration INBOX_SWEEP = Duration.ofSeconds(3);
    /** How often it looks where the database's notifications cannot reach the application. */
    static final Duration INBOX_POLL = Duration.ofMillis(250);

    /** {@code takeDown}: and empties the published worker list (on a clean stop, when the database is there). */
    private synchronized void stopListeningToOtherMasters(boolean takeDown) {
        if (inbox != null) {
            inbox.close();
            inbox = null;
        }
        if (claims != null) {
            claims.shutdownNow();
            claims = null;
            reclaims.shutdownNow();
            reclaims = null;
        }
        if (published != null) {
            published.close(takeDown);
            published = null;
        }
    }

    /**
     * The secret keys are read now, so that a key file the master cannot use stops the start instead of the first
     * submission with a secret; see {@link TaskStore#checkSecretKeys}.
     */
    private void checkSecretKeys(boolean keyFileExisted) {
        store.checkSecretKeys(keyFileExisted, config.secretKeyFile());
    }

    private synchronized void startGrpc() {
        if (stopping || server != null) {
            return;
        }
        InetSocketAddress address = credentials.enabled() ? bindAddress() : new InetSocketAddress(
                InetAddress.getLoopbackAddress(), config.grpcPort());
        // Calls run on threads of the server's managed thread factory, so that CDI and JNDI work inside them; a pool
        // of them rather than the managed executor, which would capture and restore context around each of the many
        // small steps of every call.
        executor = Executors.newFixedThreadPool(GRPC_THREADS, threadFactory);
        bossGroup = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        workerGroup = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
        // Two full output streams plus the rest of a report must fit in one message.
        int maxMessage = (int) Math.min(Integer.MAX_VALUE, 2 * config.outputLimitBytes() + 1024 * 1024);
        NettyServerBuilder builder = NettyServerBuilder.forAddress(address)
                .channelType(NioServerSocketChannel.class)
                .bossEventLoopGroup(bossGroup)
                .workerEventLoopGroup(workerGroup)
                .executor(executor)
                .maxInboundMessageSize(maxMessage);
        keepalive(builder, config.keepAliveSeconds(), config.keepAliveTimeoutSeconds());
        connectionLimits(builder, config.maxConnectionAgeSeconds(), config.maxConnectionAgeGraceSeconds());
        configureTls(builder);
        server = new GrpcServer(serveAgents(builder, nodeService, credentials)).start();
        LOG.info("Taskgrid gRPC server listening on " + address);
    }

    /**
     * Why the start failed, in one line an operator can act on: the first message of ours in the causes, a taken port
     * said as such, else the innermost message. The server logs the exception again on its own.
     */
    static String cause(Throwable failure, TaskgridConfig config) {
        Throwable innermost = failure;
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof InvalidSettings) {
                return t.getMessage();
            }
            if (t instanceof BindException || isBindFailure(t.getMessage())) {
                boolean taken = String.valueOf(t.getMessage()).contains("in use");
                return "cannot listen on the gRPC port " + config.grpcPort() + " of " + config.listenHost() + " ("
                        + SafeText.oneLine(t.getMessage(), 200) + "): " + (taken
                        ? "another process holds it; stop that one, or set taskgrid.grpc.port (TASKGRID_GRPC_PORT)"
                        : "check taskgrid.listen.host and taskgrid.grpc.port");
            }
            if (String.valueOf(t.getMessage()).contains("Database may be already in use")) {
                return "another process has this master's H2 database open (" + SafeText.oneLine(t.getMessage(), 200)
                        + "): the embedded database serves one master only; stop the other master, or run several "
                        + "masters on PostgreSQL (docs/operations.md, Running several masters)";
            }
            innermost = t;
        }
        String message = failure.getMessage() != null ? failure.getMessage() : innermost.toString();
        return SafeText.oneLine(PEM_BLOCK.matcher(message).replaceAll("[a PEM block, not shown]"), 500);
    }

    /**
     * A key or certificate in a message (a library that could not parse one may quote it): never into the log. An
     * unfinished block (cut off, or its end missing) goes from its start on.
     */
    static final Pattern PEM_BLOCK = Pattern.compile("-----BEGIN[^-]*-----(?:.*?-----END[^-]*-----|.*)", Pattern.DOTALL);

    /** Netty's native transport says it in words, not with a {@link BindException}. */
    private static boolean isBindFailure(String message) {
        return message != null && (message.contains("bind(..) failed") || message.contains("Address already in use"));
    }

    /**
     * The start failed, and the log already says why (one line). Without a stack trace: the server prints this
     * exception too, and fifty lines of frames would bury the one that matters.
     */
    public static final class MasterNotStarted extends RuntimeException {
        private static final long serialVersionUID = 1L;

        MasterNotStarted(String cause) {
            super("Taskgrid master not started: " + cause, null, false, false);
        }
    }

    void onStop(@Observes @BeforeDestroyed(ApplicationScoped.class) Object event) {
        stopping = true;
        if (role != null) {
            // No turn may start what is being stopped here; the lease itself is given up last.
            role.halt();
        }
        stopLeading();
        stopListeningToOtherMasters(true);
        retention.stop();
        dispatcher.stop();
        stopGrpc();
        store.close();
        // Last: a standby takes over once the lease is given up, and nothing of this master may write after that.
        if (role != null) {
            role.stop();
        }
    }

    /** Closes every agent's stream and the port; {@link #startGrpc} opens them again. */
    private synchronized void stopGrpc() {
        if (server != null) {
            server.stop(2000);
            server = null;
        }
        if (workerGroup != null) {
            workerGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
            bossGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
            workerGroup = null;
            bossGroup = null;
        }
        if (executor != null) {
            executor.shutdownNow();
            executor = null;
        }
    }

    /** After a failed start: whatever did start stops, so that no thread outlives the failed application. */
    private void stopQuietly() {
        try {
            onStop(null);
        } catch (RuntimeException e) {
            LOG.fine(() -> "stopping after a failed start: " + e);
        }
    }

    /**
     * The master's own pings (its settings), and the agents' pings it accepts: those follow the agent's fixed rate
     * from {@link Keepalive}, never the master's settings, so no setting here can make the master drop every agent.
     */
    static NettyServerBuilder keepalive(NettyServerBuilder builder, long keepAliveSeconds, long keepAliveTimeoutSeconds) {
        return builder.keepAliveTime(Math.max(1, keepAliveSeconds), TimeUnit.SECONDS)
                .keepAliveTimeout(Math.max(1, keepAliveTimeoutSeconds), TimeUnit.SECONDS)
                .permitKeepAliveTime(Keepalive.MASTER_PERMITS_PINGS_EVERY.toMillis(), TimeUnit.MILLISECONDS)
                .permitKeepAliveWithoutCalls(true);
    }

    /** Headers of one call at most: a join token and gRPC's own fit many times over. */
    static final int MAX_METADATA_BYTES = 16 * 1024;
    /**
     * A connection without a call for this long is closed (an agent always has its AssignTask stream open; its
     * channel connects again when it next calls): connections that only hold a socket are not kept for ever.
     */
    static final long MAX_CONNECTION_IDLE_SECONDS = 300;
    /** How long a new connection may take to become an HTTP/2 connection (TLS included) before it is closed. */
    static final long HANDSHAKE_TIMEOUT_SECONDS = 20;
    /**
     * Streams a client may reset in {@link #RST_WINDOW_SECONDS} before its connection is closed (the HTTP/2 "rapid
     * reset" flood): an agent resets a call only when it gives up on it, a few a minute at worst.
     */
    static final int MAX_RST_PER_WINDOW = 200;
    static final int RST_WINDOW_SECONDS = 10;

    /**
     * What one connection may hold, whoever holds a join token: calls open at once
     * ({@link WorkerLimits#MAX_CALLS_PER_CONNECTION}, HTTP/2's MAX_CONCURRENT_STREAMS, so a client opening more waits),
     * the size of its headers, its time to shake hands, its idle time, its age (then no new call on it, and its streams
     * end {@code graceSeconds} later; the agent connects again at once and keeps its tasks), and reset streams.
     */
    static NettyServerBuilder connectionLimits(NettyServerBuilder builder, long maxAgeSeconds, long graceSeconds) {
        builder.maxConcurrentCallsPerConnection(WorkerLimits.MAX_CALLS_PER_CONNECTION)
                .maxInboundMetadataSize(MAX_METADATA_BYTES)
                .maxConnectionIdle(MAX_CONNECTION_IDLE_SECONDS, TimeUnit.SECONDS)
                .maxConnectionAge(maxAgeSeconds, TimeUnit.SECONDS)
                .maxConnectionAgeGrace(graceSeconds, TimeUnit.SECONDS)
                .maxRstFramesPerWindow(MAX_RST_PER_WINDOW, RST_WINDOW_SECONDS)
                .handshakeTimeout(HANDSHAKE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        return builder;
    }

    /**
     * Adds the agent protocol to {@code builder} as the master serves it: the join token checked first, then the
     * bounds of {@link AgentBounds} (which connection a call came on, and how much its join token holds). Tests build
     * their servers with it too.
     */
    static <T extends ServerBuilder<T>> T serveAgents(T builder, NodeService nodeService, Credentials credentials) {
        AgentBounds bounds = nodeService.bounds();
        return builder.addTransportFilter(bounds.connections())
                // The last interceptor runs first: the join token, then the bounds of that token.
                .addService(ServerInterceptors.intercept(NodeServiceGrpc.bindService(nodeService), bounds.calls(),
                        new JoinTokenInterceptor(credentials)));
    }

    private void configureTls(NettyServerBuilder builder) {
        Optional<String> cert = config.grpcTlsCert();
        Optional<String> key = config.grpcTlsKey();
        if (cert.isEmpty() && key.isEmpty()) {
            return;
        }
        if (cert.isEmpty() || key.isEmpty()) {
            throw new IllegalStateException("gRPC TLS needs both taskgrid.grpc.tls.cert and taskgrid.grpc.tls.key");
        }
        try {
            SslContextBuilder ssl = GrpcSslContexts.forServer(new File(cert.get()), new File(key.get()));
            Optional<String> clientCa = config.grpcTlsClientCa();
            if (clientCa.isPresent()) {
                ssl.trustManager(new File(clientCa.get())).clientAuth(ClientAuth.REQUIRE);
            }
            builder.sslContext(ssl.build());
            LOG.info("gRPC uses TLS" + (clientCa.isPresent() ? ", and agents need a certificate from " + clientCa.get() : ""));
        } catch (SSLException e) {
            throw new IllegalStateException("gRPC TLS: " + e.getMessage(), e);
        }
    }

    /** Whether the start sequence completed once; stays true while the master stops. */
    public boolean hasStarted() {
        return started;
    }

    /** Whether the start sequence completed and agents can connect. */
    public boolean isServing() {
        GrpcServer serving = server;
        return started && serving != null && serving.isServing();
    }

    private InetSocketAddress bindAddress() {
        String host = config.listenHost().trim();
        if (host.equals("*") || host.equals("0.0.0.0")) {
            return new InetSocketAddress(config.grpcPort());
        }
        try {
            return new InetSocketAddress(InetAddress.getByName(host), config.grpcPort());
        } catch (UnknownHostException e) {
            throw new IllegalStateException("taskgrid.listen.host '" + host + "' does not resolve", e);
        }
    }
}
