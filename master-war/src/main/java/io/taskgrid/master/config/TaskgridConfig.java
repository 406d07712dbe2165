package io.taskgrid.master.config;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.Config;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Every setting of the master, read once through MicroProfile Config and checked against {@link Setting}'s rules
 * before the master starts: a value it cannot use stops the start with one line that names the setting, the value, the
 * rule and where the value came from. The defaults live in one place, {@code META-INF/microprofile-config.properties};
 * on Liberty a {@code server.xml} variable, {@code bootstrap.properties} or an environment variable
 * ({@code TASKGRID_QUEUE_MAX} for {@code taskgrid.queue.max}) overrides them, on any other server its own config
 * sources do. Tests build one from those same defaults with {@link #defaults()} and change what they need with the
 * withers.
 */
@ApplicationScoped
public class TaskgridConfig {

    static final String DEFAULTS_RESOURCE = "/META-INF/microprofile-config.properties";

    private Map<Setting, Object> values;
    private List<String> warnings;

    /** For the CDI proxy only. */
    protected TaskgridConfig() {
    }

    @Inject
    public TaskgridConfig(Config config) {
        this(SettingSource.of(config));
    }

    private TaskgridConfig(SettingSource source) {
        SettingsCheck check = SettingsCheck.of(source);
        this.values = check.values();
        this.warnings = check.warnings();
    }

    /** The settings of {@code source}; a value the master cannot use throws {@link InvalidSettings}. */
    public static TaskgridConfig from(SettingSource source) {
        return new TaskgridConfig(source);
    }

    /** The defaults of microprofile-config.properties, for tests; change what a test needs with the withers. */
    public static TaskgridConfig defaults() {
        return from(SettingSource.of(defaultsFile()));
    }

    /** The application's defaults as the file states them, with {@code ${name}} expanded as MicroProfile Config does. */
    static Map<String, String> defaultsFile() {
        Properties file = new Properties();
        try (InputStream in = TaskgridConfig.class.getResourceAsStream(DEFAULTS_RESOURCE)) {
            file.load(in);
        } catch (IOException | NullPointerException e) {
            throw new UncheckedIOException(new IOException("cannot read " + DEFAULTS_RESOURCE, e));
        }
        Map<String, String> expanded = new java.util.TreeMap<>();
        for (String key : file.stringPropertyNames()) {
            expanded.put(key, expand(file.getProperty(key), file, 0));
        }
        return expanded;
    }

    private static final Pattern REFERENCE = Pattern.compile("\\$\\{([^}]+)}");

    private static String expand(String value, Properties file, int depth) {
        Matcher m = REFERENCE.matcher(value);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String name = m.group(1);
            String replacement = file.containsKey(name) && depth < 5 ? expand(file.getProperty(name), file, depth + 1)
                    : System.getProperty(name, "");
            m.appendReplacement(out, Matcher.quoteReplacement(replacement));
        }
        m.appendTail(out);
        return out.toString();
    }

    /**
     * What an operator should hear about the settings at start: names under {@code taskgrid.} / {@code TASKGRID_}
     * that are no setting (with the closest one), and deprecated names still in use.
     */
    public List<String> warnings() {
        return warnings;
    }

    private Object get(Setting setting) {
        return values.get(setting);
    }

    private TaskgridConfig with(Setting setting, Object value) {
        Map<Setting, Object> changed = new EnumMap<>(Setting.class);
        changed.putAll(values);
        changed.put(setting, value);
        values = changed;
        return this;
    }

    public TaskgridConfig withGrpcPort(int port) {
        return with(Setting.GRPC_PORT, port);
    }

    public TaskgridConfig withQueueMax(int max) {
        return with(Setting.QUEUE_MAX, (long) max);
    }

    public TaskgridConfig withQueuePerCallerShare(double share) {
        return with(Setting.QUEUE_PER_CALLER_SHARE, share);
    }

    public TaskgridConfig withLostAfterSeconds(long seconds) {
        return with(Setting.LOST_AFTER_SECONDS, seconds);
    }

    public TaskgridConfig withRefusalLimits(int perTask, int perWorker) {
        return with(Setting.TASK_REFUSAL_LIMIT, (long) perTask).with(Setting.WORKER_REFUSAL_LIMIT, (long) perWorker);
    }

    public TaskgridConfig withMaxOutputFollowers(int followers) {
        return with(Setting.OUTPUT_MAX_FOLLOWERS, (long) followers);
    }

    public TaskgridConfig withMaxOutputFollowersPerCaller(int followers) {
        return with(Setting.OUTPUT_MAX_FOLLOWERS_PER_CALLER, (long) followers);
    }

    public TaskgridConfig withOutputLimitBytes(long bytes) {
        return with(Setting.OUTPUT_LIMIT_BYTES, bytes);
    }

    public TaskgridConfig withAuthentication(boolean enabled, String tokensFile) {
        return with(Setting.AUTH_ENABLED, enabled).with(Setting.TOKENS_FILE, tokensFile);
    }

    public TaskgridConfig withWorkersMax(int max) {
        return with(Setting.WORKERS_MAX, (long) max);
    }

    /** The bounds of what one join token's holders may have open and queued at once (see {@link #tokenMaxCalls}). */
    public TaskgridConfig withTokenBounds(int calls, long queuedBytes) {
        return with(Setting.GRPC_TOKEN_MAX_CALLS, (long) calls).with(Setting.GRPC_TOKEN_MAX_QUEUED_BYTES, queuedBytes);
    }

    public TaskgridConfig withMaxQueuedBytes(long bytes) {
        return with(Setting.GRPC_MAX_QUEUED_BYTES, bytes);
    }

    public TaskgridConfig withMetricsPublic(boolean open) {
        return with(Setting.METRICS_PUBLIC, open);
    }

    public TaskgridConfig withRetention(double days, long intervalSeconds) {
        return with(Setting.RETENTION_DAYS, days).with(Setting.RETENTION_INTERVAL_SECONDS, intervalSeconds);
    }

    /** Interface of the REST and gRPC ports; {@code *} for all. */
    public String listenHost() {
        return (String) get(Setting.LISTEN_HOST);
    }

    public int httpPort() {
        return (Integer) get(Setting.HTTP_PORT);
    }

    public int grpcPort() {
        return (Integer) get(Setting.GRPC_PORT);
    }

    public boolean authEnabled() {
        return (Boolean) get(Setting.AUTH_ENABLED);
    }

    /** Whether the first start prints the tokens it makes (the quick start's way) or only the file they are in. */
    public boolean credentialsPrinted() {
        return (Boolean) get(Setting.CREDENTIALS_PRINT);
    }

    public String tokensFile() {
        return (String) get(Setting.TOKENS_FILE);
    }

    public String secretKeyFile() {
        return (String) get(Setting.SECRET_KEY_FILE);
    }

    public boolean insecureAllowed() {
        return (Boolean) get(Setting.INSECURE_ALLOWED);
    }

    public Optional<String> grpcTlsCert() {
        return optional(Setting.GRPC_TLS_CERT);
    }

    public Optional<String> grpcTlsKey() {
        return optional(Setting.GRPC_TLS_KEY);
    }

    public Optional<String> grpcTlsClientCa() {
        return optional(Setting.GRPC_TLS_CLIENT_CA);
    }

    public long keepAliveSeconds() {
        return (Long) get(Setting.KEEPALIVE_SECONDS);
    }

    public long keepAliveTimeoutSeconds() {
        return (Long) get(Setting.KEEPALIVE_TIMEOUT_SECONDS);
    }

    /** A connection older than this gets no new call (GOAWAY); see {@link #maxConnectionAgeGraceSeconds}. */
    public long maxConnectionAgeSeconds() {
        return (Long) get(Setting.GRPC_MAX_CONNECTION_AGE_SECONDS);
    }

    /** How long the streams of a connection past its age may go on before the connection is closed. */
    public long maxConnectionAgeGraceSeconds() {
        return (Long) get(Setting.GRPC_MAX_CONNECTION_AGE_GRACE_SECONDS);
    }

    /** Calls (streams and reports) open at once with one join token, over all its connections. */
    public int tokenMaxCalls() {
        return ((Long) get(Setting.GRPC_TOKEN_MAX_CALLS)).intValue();
    }

    /** Bytes of agents' output taken from the holders of one join token and not yet written. */
    public long tokenMaxQueuedBytes() {
        return (Long) get(Setting.GRPC_TOKEN_MAX_QUEUED_BYTES);
    }

    /** Bytes of agents' output taken and not yet written, over every join token: the output writer's queue. */
    public long maxQueuedBytes() {
        return (Long) get(Setting.GRPC_MAX_QUEUED_BYTES);
    }

    /** Workers connected at once. */
    public int workersMax() {
        return ((Long) get(Setting.WORKERS_MAX)).intValue();
    }

    public long outputLimitBytes() {
        return (Long) get(Setting.OUTPUT_LIMIT_BYTES);
    }

    public long lostAfterSeconds() {
        return (Long) get(Setting.LOST_AFTER_SECONDS);
    }

    /** This master's name among the masters of its database; empty for the default (host name and HTTP port). */
    public Optional<String> masterId() {
        return optional(Setting.MASTER_ID);
    }

    /** How long the dispatch lease lasts after its last renewal. */
    public long masterLeaseSeconds() {
        return (Long) get(Setting.MASTER_LEASE_SECONDS);
    }

    public int defaultMaxAttempts() {
        return ((Long) get(Setting.TASK_MAX_ATTEMPTS)).intValue();
    }

    public int queueMax() {
        return ((Long) get(Setting.QUEUE_MAX)).intValue();
    }

    /** The share of {@link #queueMax()} that one caller's unfinished tasks may take (1: no share of its own). */
    public double queuePerCallerShare() {
        return (Double) get(Setting.QUEUE_PER_CALLER_SHARE);
    }

    /**
     * How many unfinished tasks one caller may have: its share of the queue cap, at least one, so that a share too
     * small for the cap still lets everyone submit. A share of 1 is no share at all: the queue's cap alone, which
     * counts queued tasks only, where a share counts a caller's tasks in flight too.
     */
    public int queuePerCallerMax() {
        if (queuePerCallerShare() >= 1) {
            return Integer.MAX_VALUE;
        }
        return (int) Math.max(1, Math.min(queueMax(), Math.floor(queuePerCallerShare() * queueMax())));
    }

    public int taskRefusalLimit() {
        return ((Long) get(Setting.TASK_REFUSAL_LIMIT)).intValue();
    }

    public int workerRefusalLimit() {
        return ((Long) get(Setting.WORKER_REFUSAL_LIMIT)).intValue();
    }

    public int maxConcurrentOutputReads() {
        return ((Long) get(Setting.MAX_CONCURRENT_OUTPUT_READS)).intValue();
    }

    /**
     * How long a large answer (a task with its output, a page of tasks) may take to be written; a client that reads it
     * more slowly is cut off. Liberty's own write timeout (server.xml) is the same number, for a write that blocks.
     */
    public long apiWriteTimeoutSeconds() {
        return (Long) get(Setting.API_WRITE_TIMEOUT_SECONDS);
    }

    /** Whether {@code GET /metrics} answers without a token (for a scraper); every other endpoint still needs one. */
    public boolean metricsPublic() {
        return (Boolean) get(Setting.METRICS_PUBLIC);
    }

    /** Finished tasks older than this many days are deleted; 0 keeps them forever. Fractions allowed. */
    public double retentionDays() {
        return (Double) get(Setting.RETENTION_DAYS);
    }

    public long retentionIntervalSeconds() {
        return (Long) get(Setting.RETENTION_INTERVAL_SECONDS);
    }

    /** Clients following task output (SSE) at once; more get 503. */
    public int maxOutputFollowers() {
        return ((Long) get(Setting.OUTPUT_MAX_FOLLOWERS)).intValue();
    }

    /** Of those, the ones one caller may hold; more of its follows get 429. */
    public int maxOutputFollowersPerCaller() {
        return ((Long) get(Setting.OUTPUT_MAX_FOLLOWERS_PER_CALLER)).intValue();
    }

    public Optional<String> jwtKeyLocation() {
        return optional(Setting.JWT_PUBLICKEY_LOCATION);
    }

    public Optional<String> jwtIssuer() {
        return optional(Setting.JWT_ISSUER);
    }

    /** The audiences a JWT may name (comma-separated in the setting); empty when none are configured. */
    public Optional<List<String>> jwtAudiences() {
        return optional(Setting.JWT_AUDIENCES).map(list -> Arrays.stream(list.split(",")).map(String::trim)
                .filter(a -> !a.isEmpty()).toList()).filter(list -> !list.isEmpty());
    }

    @SuppressWarnings("unchecked")
    private Optional<String> optional(Setting setting) {
        return (Optional<String>) get(setting);
    }
}
