package io.taskgrid.master.config;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Every setting of the master, read once through MicroProfile Config. The defaults live in one place,
 * {@code META-INF/microprofile-config.properties}; on Liberty a {@code server.xml} variable, {@code bootstrap.properties}
 * or an environment variable ({@code TASKGRID_QUEUE_MAX} for {@code taskgrid.queue.max}) overrides them, on any other
 * server its own config sources do. Tests build one with {@link #defaults()} and the withers.
 */
@ApplicationScoped
public class TaskgridConfig {

    @Inject
    @ConfigProperty(name = "taskgrid.listen.host")
    String listenHost;

    @Inject
    @ConfigProperty(name = "taskgrid.http.port")
    int httpPort;

    @Inject
    @ConfigProperty(name = "taskgrid.grpc.port")
    int grpcPort;

    @Inject
    @ConfigProperty(name = "taskgrid.auth.enabled")
    boolean authEnabled;

    @Inject
    @ConfigProperty(name = "taskgrid.auth.tokens.file")
    String tokensFile;

    @Inject
    @ConfigProperty(name = "taskgrid.secret.key.file")
    String secretKeyFile;

    @Inject
    @ConfigProperty(name = "taskgrid.tls.insecure.allowed")
    boolean insecureAllowed;

    @Inject
    @ConfigProperty(name = "taskgrid.grpc.tls.cert")
    Optional<String> grpcTlsCert;

    @Inject
    @ConfigProperty(name = "taskgrid.grpc.tls.key")
    Optional<String> grpcTlsKey;

    @Inject
    @ConfigProperty(name = "taskgrid.grpc.tls.client.ca")
    Optional<String> grpcTlsClientCa;

    @Inject
    @ConfigProperty(name = "taskgrid.grpc.keepalive.seconds")
    long keepAliveSeconds;

    @Inject
    @ConfigProperty(name = "taskgrid.grpc.keepalive.timeout.seconds")
    long keepAliveTimeoutSeconds;

    @Inject
    @ConfigProperty(name = "taskgrid.output.limit.bytes")
    long outputLimitBytes;

    @Inject
    @ConfigProperty(name = "taskgrid.lost.after.seconds")
    long lostAfterSeconds;

    @Inject
    @ConfigProperty(name = "taskgrid.task.max.attempts")
    int defaultMaxAttempts;

    @Inject
    @ConfigProperty(name = "taskgrid.queue.max")
    int queueMax;

    @Inject
    @ConfigProperty(name = "taskgrid.task.refusal.limit")
    int taskRefusalLimit;

    @Inject
    @ConfigProperty(name = "taskgrid.worker.refusal.limit")
    int workerRefusalLimit;

    @Inject
    @ConfigProperty(name = "taskgrid.api.max.concurrent.output.reads")
    int maxConcurrentOutputReads;

    @Inject
    @ConfigProperty(name = "taskgrid.metrics.public")
    boolean metricsPublic;

    @Inject
    @ConfigProperty(name = "taskgrid.retention.days")
    double retentionDays;

    @Inject
    @ConfigProperty(name = "taskgrid.retention.interval.seconds")
    long retentionIntervalSeconds;

    @Inject
    @ConfigProperty(name = "taskgrid.output.max.followers")
    int maxOutputFollowers;

    @Inject
    @ConfigProperty(name = "mp.jwt.verify.publickey.location")
    Optional<String> jwtKeyLocation;

    @Inject
    @ConfigProperty(name = "mp.jwt.verify.issuer")
    Optional<String> jwtIssuer;

    @Inject
    @ConfigProperty(name = "mp.jwt.verify.audiences")
    // As one string, split here: Payara's MicroProfile Config cannot inject Optional<List<String>>.
    Optional<String> jwtAudiences;

    /** For CDI. */
    protected TaskgridConfig() {
    }

    /** The defaults of microprofile-config.properties, for tests; change what a test needs with the withers. */
    public static TaskgridConfig defaults() {
        TaskgridConfig c = new TaskgridConfig();
        c.listenHost = "localhost";
        c.httpPort = 9092;
        c.grpcPort = 50051;
        c.authEnabled = true;
        c.tokensFile = "taskgrid-tokens.properties";
        c.secretKeyFile = "taskgrid-secret.key";
        c.insecureAllowed = false;
        c.grpcTlsCert = Optional.empty();
        c.grpcTlsKey = Optional.empty();
        c.grpcTlsClientCa = Optional.empty();
        c.keepAliveSeconds = 10;
        c.keepAliveTimeoutSeconds = 5;
        c.outputLimitBytes = 1_048_576;
        c.lostAfterSeconds = 30;
        c.defaultMaxAttempts = 3;
        c.queueMax = 10_000;
        c.taskRefusalLimit = 10;
        c.workerRefusalLimit = 5;
        c.maxConcurrentOutputReads = 16;
        c.metricsPublic = false;
        c.retentionDays = 30;
        c.retentionIntervalSeconds = 3600;
        c.maxOutputFollowers = 64;
        c.jwtKeyLocation = Optional.empty();
        c.jwtIssuer = Optional.empty();
        c.jwtAudiences = Optional.empty();
        return c;
    }

    public TaskgridConfig withQueueMax(int max) {
        this.queueMax = max;
        return this;
    }

    public TaskgridConfig withLostAfterSeconds(long seconds) {
        this.lostAfterSeconds = seconds;
        return this;
    }

    public TaskgridConfig withRefusalLimits(int perTask, int perWorker) {
        this.taskRefusalLimit = perTask;
        this.workerRefusalLimit = perWorker;
        return this;
    }

    public TaskgridConfig withMaxOutputFollowers(int followers) {
        this.maxOutputFollowers = followers;
        return this;
    }

    public TaskgridConfig withOutputLimitBytes(long bytes) {
        this.outputLimitBytes = bytes;
        return this;
    }

    public TaskgridConfig withMetricsPublic(boolean open) {
        this.metricsPublic = open;
        return this;
    }

    public TaskgridConfig withRetention(double days, long intervalSeconds) {
        this.retentionDays = days;
        this.retentionIntervalSeconds = intervalSeconds;
        return this;
    }

    /** Interface of the REST and gRPC ports; {@code *} for all. */
    public String listenHost() {
        return listenHost;
    }

    public int httpPort() {
        return httpPort;
    }

    public int grpcPort() {
        return grpcPort;
    }

    public boolean authEnabled() {
        return authEnabled;
    }

    public String tokensFile() {
        return tokensFile;
    }

    public String secretKeyFile() {
        return secretKeyFile;
    }

    public boolean insecureAllowed() {
        return insecureAllowed;
    }

    public Optional<String> grpcTlsCert() {
        return grpcTlsCert.filter(s -> !s.isBlank());
    }

    public Optional<String> grpcTlsKey() {
        return grpcTlsKey.filter(s -> !s.isBlank());
    }

    public Optional<String> grpcTlsClientCa() {
        return grpcTlsClientCa.filter(s -> !s.isBlank());
    }

    public long keepAliveSeconds() {
        return keepAliveSeconds;
    }

    public long keepAliveTimeoutSeconds() {
        return keepAliveTimeoutSeconds;
    }

    public long outputLimitBytes() {
        return outputLimitBytes;
    }

    public long lostAfterSeconds() {
        return lostAfterSeconds;
    }

    public int defaultMaxAttempts() {
        return defaultMaxAttempts;
    }

    public int queueMax() {
        return queueMax;
    }

    public int taskRefusalLimit() {
        return taskRefusalLimit;
    }

    public int workerRefusalLimit() {
        return workerRefusalLimit;
    }

    public int maxConcurrentOutputReads() {
        return maxConcurrentOutputReads;
    }

    /** Whether {@code GET /metrics} answers without a token (for a scraper); every other endpoint still needs one. */
    public boolean metricsPublic() {
        return metricsPublic;
    }

    /** Finished tasks older than this many days are deleted; 0 (or less) keeps them forever. Fractions allowed. */
    public double retentionDays() {
        return retentionDays;
    }

    public long retentionIntervalSeconds() {
        return retentionIntervalSeconds;
    }

    /** Clients following task output (SSE) at once; more get 503. */
    public int maxOutputFollowers() {
        return maxOutputFollowers;
    }

    public Optional<String> jwtKeyLocation() {
        return jwtKeyLocation;
    }

    public Optional<String> jwtIssuer() {
        return jwtIssuer;
    }

    /** The audiences a JWT may name (comma-separated in the setting); empty when none are configured. */
    public Optional<List<String>> jwtAudiences() {
        return jwtAudiences.map(list -> Arrays.stream(list.split(",")).map(String::trim).filter(a -> !a.isEmpty())
                .toList()).filter(list -> !list.isEmpty());
    }
}
