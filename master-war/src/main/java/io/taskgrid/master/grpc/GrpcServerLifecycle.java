package io.taskgrid.master.grpc;

import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.handler.ssl.ClientAuth;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContextBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.MultiThreadIoEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.nio.NioIoHandler;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioServerSocketChannel;
import io.grpc.ServerInterceptors;
import io.taskgrid.master.dispatch.Dispatcher;
import io.taskgrid.master.security.Credentials;
import io.taskgrid.master.security.JoinTokenInterceptor;
import io.taskgrid.master.security.JwtVerifier;
import io.taskgrid.master.security.TransportPolicy;
import io.taskgrid.proto.Keepalive;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import jakarta.annotation.Resource;
import jakarta.enterprise.concurrent.ManagedExecutorService;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.context.BeforeDestroyed;
import jakarta.enterprise.context.Initialized;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import javax.net.ssl.SSLException;
import java.io.File;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * Runs the gRPC server for exactly as long as the application runs. Before it opens the port it starts the grace period
 * of every attempt a previous master left in flight: its agent may reconnect and claim it, or it is settled.
 *
 * <p>Calls run on Liberty's managed executor so that JPA, transactions and CDI work inside them; the Netty event loops
 * are owned here so that stopping the application stops every thread the server started.
 */
@ApplicationScoped
public class GrpcServerLifecycle {

    private static final Logger LOG = Logger.getLogger(GrpcServerLifecycle.class.getName());

    @Inject
    NodeService nodeService;

    @Inject
    Dispatcher dispatcher;

    @Inject
    Credentials credentials;

    @Inject
    JwtVerifier jwt;

    @Inject
    TransportPolicy transport;

    @Resource(lookup = "java:comp/DefaultManagedExecutorService")
    ManagedExecutorService executor;

    @Inject
    @ConfigProperty(name = "taskgrid.listen.host", defaultValue = "localhost")
    String listenHost;

    @Inject
    @ConfigProperty(name = "taskgrid.grpc.port", defaultValue = "50051")
    int port;

    /** How often to ping an idle connection, and how long to wait for the answer before calling the peer dead. */
    @Inject
    @ConfigProperty(name = "taskgrid.grpc.keepalive.seconds", defaultValue = "10")
    long keepAliveSeconds;

    @Inject
    @ConfigProperty(name = "taskgrid.grpc.keepalive.timeout.seconds", defaultValue = "5")
    long keepAliveTimeoutSeconds;

    @Inject
    @ConfigProperty(name = "taskgrid.output.limit.bytes", defaultValue = "1048576")
    long outputLimitBytes;

    /** PEM certificate chain and PKCS#8 key of the gRPC server; both set turns TLS on. */
    @Inject
    @ConfigProperty(name = "taskgrid.grpc.tls.cert")
    Optional<String> tlsCert;

    @Inject
    @ConfigProperty(name = "taskgrid.grpc.tls.key")
    Optional<String> tlsKey;

    /** PEM CA certificates; set, only agents with a client certificate signed by one of them may connect. */
    @Inject
    @ConfigProperty(name = "taskgrid.grpc.tls.client.ca")
    Optional<String> tlsClientCa;

    private GrpcServer server;
    private EventLoopGroup bossGroup;
    private EventLoopGroup workerGroup;

    void onStart(@Observes @Initialized(ApplicationScoped.class) Object event) {
        try {
            // Security settings are checked now, before any port opens, rather than at the first call they affect.
            credentials.initialize();
            jwt.enabled();
            if (credentials.enabled()) {
                // Without authentication gRPC binds to 127.0.0.1 whatever the listen host (below).
                transport.checkGrpc(tlsConfigured());
            }
        } catch (RuntimeException e) {
            LOG.severe("Taskgrid master not started: " + e.getMessage());
            throw e;
        }
        dispatcher.startedWithAttemptsInFlight();
        // Without authentication nobody but this machine may reach the agent protocol.
        InetSocketAddress address = credentials.enabled() ? bindAddress() : new InetSocketAddress("127.0.0.1", port);
        bossGroup = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        workerGroup = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
        // Two full output streams plus the rest of a report must fit in one message.
        int maxMessage = (int) Math.min(Integer.MAX_VALUE, 2 * outputLimitBytes + 1024 * 1024);
        NettyServerBuilder builder = NettyServerBuilder.forAddress(address)
                .channelType(NioServerSocketChannel.class)
                .bossEventLoopGroup(bossGroup)
                .workerEventLoopGroup(workerGroup)
                .executor(executor)
                .maxInboundMessageSize(maxMessage)
                .maxInboundMetadataSize(16 * 1024);
        keepalive(builder, keepAliveSeconds, keepAliveTimeoutSeconds);
        configureTls(builder);
        server = new GrpcServer(builder, ServerInterceptors.intercept(NodeServiceGrpc.bindService(nodeService),
                new JoinTokenInterceptor(credentials))).start();
        LOG.info("Taskgrid gRPC server listening on " + address);
        dispatcher.requestDispatch();
    }

    void onStop(@Observes @BeforeDestroyed(ApplicationScoped.class) Object event) {
        dispatcher.stop();
        if (server != null) {
            server.stop(2000);
        }
        if (workerGroup != null) {
            workerGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
            bossGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
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

    private boolean tlsConfigured() {
        return tlsCert.filter(s -> !s.isBlank()).isPresent() || tlsKey.filter(s -> !s.isBlank()).isPresent();
    }

    private void configureTls(NettyServerBuilder builder) {
        Optional<String> cert = tlsCert.filter(s -> !s.isBlank());
        Optional<String> key = tlsKey.filter(s -> !s.isBlank());
        if (cert.isEmpty() && key.isEmpty()) {
            return;
        }
        if (cert.isEmpty() || key.isEmpty()) {
            throw new IllegalStateException("gRPC TLS needs both taskgrid.grpc.tls.cert and taskgrid.grpc.tls.key");
        }
        try {
            SslContextBuilder ssl = GrpcSslContexts.forServer(new File(cert.get()), new File(key.get()));
            Optional<String> clientCa = tlsClientCa.filter(s -> !s.isBlank());
            if (clientCa.isPresent()) {
                ssl.trustManager(new File(clientCa.get())).clientAuth(ClientAuth.REQUIRE);
            }
            builder.sslContext(ssl.build());
            LOG.info("gRPC uses TLS" + (clientCa.isPresent() ? ", and agents need a certificate from " + clientCa.get() : ""));
        } catch (SSLException e) {
            throw new IllegalStateException("gRPC TLS: " + e.getMessage(), e);
        }
    }

    public boolean isServing() {
        return server != null && server.isServing();
    }

    private InetSocketAddress bindAddress() {
        String host = listenHost.trim();
        if (host.equals("*") || host.equals("0.0.0.0")) {
            return new InetSocketAddress(port);
        }
        try {
            return new InetSocketAddress(InetAddress.getByName(host), port);
        } catch (UnknownHostException e) {
            throw new IllegalStateException("taskgrid.listen.host '" + host + "' does not resolve", e);
        }
    }
}
