package io.taskgrid.master.config;

import com.google.errorprone.annotations.Immutable;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Every setting of the master: its key and the values it takes. The catalog lets the master refuse a value it cannot
 * use before it starts (a typo in {@code taskgrid.auth.enabled} must not quietly read as {@code false}), and warn about
 * a {@code taskgrid.*} name that is none of these, naming the closest one.
 *
 * <p>Defaults are not here: they live once, in {@code META-INF/microprofile-config.properties}, which every
 * MicroProfile Config implementation reads at the lowest priority; {@code ConfigurationDocumentedTest} holds the two
 * (and the table in docs/configuration.md) together. Settings that only the Liberty server configuration reads (ports of its HTTP
 * endpoint, the database's data source) are listed too, so that they count as known; the application does not parse
 * them.
 */
public enum Setting {
    HOME("taskgrid.home", Rule.TEXT),
    LISTEN_HOST("taskgrid.listen.host", Rule.TEXT),
    HTTP_PORT("taskgrid.http.port", Rule.port(-1)),
    GRPC_PORT("taskgrid.grpc.port", Rule.port(1)),
    AUTH_ENABLED("taskgrid.auth.enabled", Rule.BOOLEAN),
    TOKENS_FILE("taskgrid.auth.tokens.file", Rule.PATH),
    CREDENTIALS_PRINT("taskgrid.credentials.print", Rule.BOOLEAN),
    SECRET_KEY_FILE("taskgrid.secret.key.file", Rule.PATH),
    INSECURE_ALLOWED("taskgrid.tls.insecure.allowed", Rule.BOOLEAN),
    GRPC_TLS_CERT("taskgrid.grpc.tls.cert", Rule.OPTIONAL_READABLE_FILE),
    GRPC_TLS_KEY("taskgrid.grpc.tls.key", Rule.OPTIONAL_READABLE_FILE),
    GRPC_TLS_CLIENT_CA("taskgrid.grpc.tls.client.ca", Rule.OPTIONAL_READABLE_FILE),
    KEEPALIVE_SECONDS("taskgrid.grpc.keepalive.seconds", Rule.whole(1, 3600)),
    KEEPALIVE_TIMEOUT_SECONDS("taskgrid.grpc.keepalive.timeout.seconds", Rule.whole(1, 3600)),
    GRPC_MAX_CONNECTION_AGE_SECONDS("taskgrid.grpc.max.connection.age.seconds", Rule.whole(60, 365L * 86_400)),
    GRPC_MAX_CONNECTION_AGE_GRACE_SECONDS("taskgrid.grpc.max.connection.age.grace.seconds", Rule.whole(1, 7 * 86_400)),
    GRPC_TOKEN_MAX_CALLS("taskgrid.grpc.token.max.calls", Rule.whole(8, 10_000_000)),
    GRPC_TOKEN_MAX_QUEUED_BYTES("taskgrid.grpc.token.max.queued.bytes", Rule.whole(1L << 20, 1L << 36)),
    GRPC_MAX_QUEUED_BYTES("taskgrid.grpc.max.queued.bytes", Rule.whole(1L << 20, 1L << 36)),
    WORKERS_MAX("taskgrid.workers.max", Rule.whole(1, 1_000_000)),
    OUTPUT_LIMIT_BYTES("taskgrid.output.limit.bytes", Rule.whole(1024, 256L * 1024 * 1024)),
    LOST_AFTER_SECONDS("taskgrid.lost.after.seconds", Rule.whole(1, 7 * 86_400)),
    MASTER_ID("taskgrid.master.id", Rule.OPTIONAL_TEXT),
    MASTER_LEASE_SECONDS("taskgrid.master.lease.seconds", Rule.whole(2, 300)),
    TASK_MAX_ATTEMPTS("taskgrid.task.max.attempts", Rule.whole(1, 100)),
    QUEUE_MAX("taskgrid.queue.max", Rule.whole(1, 100_000_000)),
    QUEUE_PER_CALLER_SHARE("taskgrid.queue.per.caller.share", Rule.fraction(0, 1)),
    TASK_REFUSAL_LIMIT("taskgrid.task.refusal.limit", Rule.whole(1, 1000)),
    WORKER_REFUSAL_LIMIT("taskgrid.worker.refusal.limit", Rule.whole(1, 1000)),
    MAX_CONCURRENT_OUTPUT_READS("taskgrid.api.max.concurrent.output.reads", Rule.whole(1, 1024)),
    API_WRITE_TIMEOUT_SECONDS("taskgrid.api.write.timeout.seconds", Rule.whole(1, 3600)),
    METRICS_PUBLIC("taskgrid.metrics.public", Rule.BOOLEAN),
    RETENTION_DAYS("taskgrid.retention.days", Rule.fraction(0, 36_500)),
    RETENTION_INTERVAL_SECONDS("taskgrid.retention.interval.seconds", Rule.whole(1, 7 * 86_400)),
    OUTPUT_MAX_FOLLOWERS("taskgrid.output.max.followers", Rule.whole(0, 10_000)),
    OUTPUT_MAX_FOLLOWERS_PER_CALLER("taskgrid.output.max.followers.per.caller", Rule.whole(1, 10_000)),
    JWT_PUBLICKEY_LOCATION("taskgrid.jwt.publickey.location", Rule.OPTIONAL_TEXT,
            "mp.jwt.verify.publickey.location"),
    JWT_ISSUER("taskgrid.jwt.issuer", Rule.OPTIONAL_TEXT, "mp.jwt.verify.issuer"),
    JWT_AUDIENCES("taskgrid.jwt.audiences", Rule.OPTIONAL_TEXT, "mp.jwt.verify.audiences"),

    // Read by the Liberty server configuration (server.xml variables, bootstrap.properties), not by the application.
    HTTPS_PORT("taskgrid.https.port", Rule.LIBERTY),
    TLS_KEYSTORE("taskgrid.tls.keystore", Rule.LIBERTY),
    TLS_KEYSTORE_PASSWORD("taskgrid.tls.keystore.password", Rule.LIBERTY),
    JDBC_DIR("taskgrid.jdbc.dir", Rule.LIBERTY),
    DB("taskgrid.db", Rule.LIBERTY),
    DB_DIR("taskgrid.db.dir", Rule.LIBERTY),
    DB_HOST("taskgrid.db.host", Rule.LIBERTY),
    DB_PORT("taskgrid.db.port", Rule.LIBERTY),
    DB_NAME("taskgrid.db.name", Rule.LIBERTY),
    DB_USER("taskgrid.db.user", Rule.LIBERTY),
    DB_PASSWORD("taskgrid.db.password", Rule.LIBERTY);

    private final String key;
    private final Rule rule;
    private final String deprecatedKey;

    Setting(String key, Rule rule) {
        this(key, rule, null);
    }

    Setting(String key, Rule rule, String deprecatedKey) {
        this.key = key;
        this.rule = rule;
        this.deprecatedKey = deprecatedKey;
    }

    public String key() {
        return key;
    }

    /** The environment variable MicroProfile Config maps to this key: {@code TASKGRID_QUEUE_MAX}. */
    public String environmentVariable() {
        return environmentVariable(key);
    }

    static String environmentVariable(String key) {
        return key.replaceAll("[^A-Za-z0-9]", "_").toUpperCase(Locale.ROOT);
    }

    /** The name this setting had before; still read, with a warning. */
    public Optional<String> deprecatedKey() {
        return Optional.ofNullable(deprecatedKey);
    }

    /** Whether the application reads this setting (else only the Liberty server configuration does). */
    public boolean readByApplication() {
        return rule != Rule.LIBERTY;
    }

    /** Whether a setting may be left without a value: the optional ones have no default. */
    public boolean optional() {
        return rule == Rule.OPTIONAL_TEXT || rule == Rule.OPTIONAL_READABLE_FILE;
    }

    /**
     * The value as the master uses it.
     *
     * @throws IllegalArgumentException with the rule the value breaks, in words for an operator
     */
    Object parse(String raw) {
        return rule.parse(raw.trim());
    }

    static List<Setting> readByApplicationOnly() {
        return Arrays.stream(values()).filter(Setting::readByApplication).toList();
    }

    /** What a setting's value must be. */
    @Immutable
    @FunctionalInterface
    interface Rule {
        Object parse(String value);

        Rule TEXT = value -> {
            if (value.isEmpty()) {
                throw new IllegalArgumentException("must not be empty");
            }
            return value;
        };
        Rule OPTIONAL_TEXT = value -> value.isEmpty() ? Optional.empty() : Optional.of(value);
        /** A file's path: one line, and not the file's contents (a PEM block pasted where its path belongs). */
        Rule PATH = value -> {
            if (value.isEmpty()) {
                throw new IllegalArgumentException("must not be empty");
            }
            if (value.chars().anyMatch(Character::isISOControl) || value.contains("-----BEGIN")) {
                throw new IllegalArgumentException("must be a file's path, not its contents");
            }
            return value;
        };
        /** Unset, or the path of a file that exists and the master can read (a certificate, a key, a CA). */
        Rule OPTIONAL_READABLE_FILE = value -> {
            if (value.isEmpty()) {
                return Optional.empty();
            }
            String path = (String) PATH.parse(value);
            Path file = Path.of(path);
            if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
                throw new IllegalArgumentException("must be a file the master can read; there is none at that path, "
                        + "or it cannot be read");
            }
            return Optional.of(path);
        };
        /** Strictly true or false: MicroProfile Config would read any other word, "ture" included, as false. */
        Rule BOOLEAN = value -> switch (value.toLowerCase(Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new IllegalArgumentException("must be true or false");
        };
        Rule LIBERTY = value -> value;

        static Rule whole(long min, long max) {
            return value -> {
                if (value.matches("[+-]?\\d{1,18}")) {
                    long n = Long.parseLong(value);
                    if (n >= min && n <= max) {
                        return n;
                    }
                }
                throw new IllegalArgumentException("must be a whole number from " + min + " to " + max);
            };
        }

        static Rule port(int off) {
            return value -> {
                if (value.matches("-?\\d{1,5}")) {
                    int port = Integer.parseInt(value);
                    if ((port >= 1 && port <= 65_535) || (off < 0 && port == -1)) {
                        return port;
                    }
                }
                throw new IllegalArgumentException("must be a port from 1 to 65535" + (off < 0 ? ", or -1 for off" : ""));
            };
        }

        static Rule fraction(double min, double max) {
            return value -> {
                if (value.matches("\\d{1,9}(\\.\\d{1,9})?")) {
                    double n = Double.parseDouble(value);
                    if (n >= min && n <= max) {
                        return n;
                    }
                }
                throw new IllegalArgumentException("must be a number from " + (long) min + " to " + (long) max
                        + " (a fraction such as 0.5 works)");
            };
        }
    }
}
