package io.taskgrid.it;

import io.taskgrid.it.cluster.ClusterConfig;
import io.taskgrid.it.cluster.LocalCluster;
import io.taskgrid.it.cluster.TaskUser;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.time.Duration;
import java.util.Base64;

/**
 * One real cluster (Liberty running master.war, and agent JVMs) for the whole integration-test run: started by the
 * first test class that needs it, stopped when the run ends. Before each test it is brought back to full shape, so a
 * test that killed an agent or restarted the master leaves nothing behind for the next one.
 */
public final class SharedCluster implements BeforeAllCallback, BeforeEachCallback {

    private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(SharedCluster.class);

    static final int LOST_AFTER_SECONDS = 8;
    static final String JWT_ISSUER = "https://idp.taskgrid.test";
    static final String JWT_AUDIENCE = "taskgrid-it";
    /** Signs the JWTs of the tests; the master trusts its public half (taskgrid.jwt.publickey.location). */
    static final KeyPair JWT_KEYS = rsaKeys();
    static final int QUEUE_MAX = 300;

    private static LocalCluster cluster;

    public static LocalCluster cluster() {
        return cluster;
    }

    public static TaskgridClient client() {
        return new TaskgridClient(cluster.config().apiBase(), cluster.apiToken());
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        context.getRoot().getStore(NAMESPACE).getOrComputeIfAbsent("cluster", key -> {
            ClusterConfig config = config();
            // Every run starts from an empty database: what an earlier run (perhaps of other code) left is not
            // this run's to see, and a migration changed during development would otherwise stop the master.
            try {
                ExtraServer.deleteTree(config.libertyDir().resolve("usr/servers").resolve(config.serverName())
                        .resolve("taskgrid-db"));
            } catch (IOException e) {
                throw new UncheckedIOException("could not empty the database of an earlier run", e);
            }
            cluster = LocalCluster.start(config);
            return (AutoCloseable) () -> {
                cluster.close();
                cluster = null;
            };
        });
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        cluster.ensureAllRunning();
    }

    static ClusterConfig config() {
        return ClusterConfig.builder(Path.of(property("taskgrid.wlp.dir")), Path.of(property("taskgrid.agent.jar")))
                .logDir(Path.of(property("taskgrid.log.dir")))
                .ports(Integer.parseInt(property("taskgrid.http.port")), Integer.parseInt(property("taskgrid.grpc.port")))
                .workers(Integer.parseInt(property("taskgrid.workers")))
                .reconnectDelay(Duration.ofSeconds(1))
                .stateDir(Path.of(property("taskgrid.state.dir")))
                // Tasks as the launcher's user, so that tests can see their processes by pid (CancelIT, WorkerLossIT):
                // --run-as puts each in a PID namespace of its own. The quick start's own arrangement, a user of
                // their own, is MasterStateIsolationIT's.
                .taskUser(TaskUser.SAME)
                // Short enough for the tests of lost workers, long enough for agents to come back after a restart.
                .masterEnv("TASKGRID_LOST_AFTER_SECONDS", Integer.toString(LOST_AFTER_SECONDS))
                .masterEnv("TASKGRID_QUEUE_MAX", Integer.toString(QUEUE_MAX))
                // Most tests submit with the one operator token, IntakeIT up to the queue's cap: no share per caller
                // here (QueueShareTest shows the share).
                .masterEnv("TASKGRID_QUEUE_PER_CALLER_SHARE", "1")
                // A client that stops reading a large answer is cut off after this (SlowReaderIT waits it out).
                .masterEnv("TASKGRID_API_WRITE_TIMEOUT_SECONDS", "15")
                // A misspelt setting, as an operator might write it: ignored, with a warning (StartupFailureIT).
                .masterEnv("TASKGRID_LOST_AFTER", "10s")
                .masterEnv("TASKGRID_JWT_PUBLICKEY_LOCATION", jwtPublicKeyFile().toString())
                .masterEnv("TASKGRID_JWT_ISSUER", JWT_ISSUER)
                .masterEnv("TASKGRID_JWT_AUDIENCES", JWT_AUDIENCE)
                .build();
    }

    private static KeyPair rsaKeys() {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
            generator.initialize(2048);
            return generator.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Path jwtPublicKeyFile() {
        try {
            Path file = Path.of(property("taskgrid.log.dir"), "jwt-public-key.pem");
            Files.createDirectories(file.getParent());
            Files.writeString(file, "-----BEGIN PUBLIC KEY-----\n"
                    + Base64.getMimeEncoder().encodeToString(JWT_KEYS.getPublic().getEncoded())
                    + "\n-----END PUBLIC KEY-----\n");
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String property(String name) {
        String value = System.getProperty(name);
        if (value == null) {
            throw new IllegalStateException("system property " + name + " is not set; run the tests with mvn -Pcluster verify");
        }
        return value;
    }
}
