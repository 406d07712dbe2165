package io.taskgrid.master.security;

import io.taskgrid.master.config.WatchedFile;
import io.taskgrid.master.text.SafeText;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.logging.Logger;

/**
 * The credentials the master accepts, as SHA-256 hashes only, in a properties file:
 *
 * <pre>
 * api.&lt;name&gt;  = &lt;role&gt;:sha256:&lt;hex&gt;     an API token; &lt;name&gt; is recorded as a task's submittedBy
 * join.&lt;name&gt; = sha256:&lt;hex&gt;            a join token for agents; several may be valid at once
 * </pre>
 *
 * The file is read again when its contents change, so tokens are added, rotated and revoked without a restart. It is
 * looked at no more than once per {@link #CHECK_INTERVAL_NANOS} (a revoked token stops working within a second), and
 * what decides is the contents, not the modification time and size: two edits of the same length within the file
 * system's time granularity are still told apart. Pure apart from reading the file: no CDI, so it is tested directly.
 */
public final class TokenFile {

    private static final Logger LOG = Logger.getLogger(TokenFile.class.getName());
    static final long CHECK_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** The column a caller's name is recorded in (a task's submittedBy) holds this many characters. */
    public static final int MAX_NAME_LENGTH = 128;

    /** An authenticated API caller. A name too long for the record is shortened, keeping different names different. */
    public record Caller(String name, Role role) {
        public Caller {
            name = SafeText.fitIdentity(name, MAX_NAME_LENGTH);
        }
    }

    private record Loaded(Map<String, Caller> apiTokens, Map<String, String> joinTokens) {
    }

    private final WatchedFile file;
    private volatile Loaded loaded = new Loaded(Map.of(), Map.of());

    public TokenFile(Path file) {
        this(file, System::nanoTime);
    }

    TokenFile(Path file, LongSupplier nanoClock) {
        this.file = new WatchedFile(file, nanoClock, CHECK_INTERVAL_NANOS, true);
    }

    public Path path() {
        return file.path();
    }

    public Optional<Caller> apiCaller(String token) {
        Loaded current = current();
        return token == null ? Optional.empty() : Optional.ofNullable(current.apiTokens().get(sha256(token)));
    }

    /** The caller of the API token whose {@link #sha256} is {@code hash}; the file is re-read when it changed. */
    public Optional<Caller> apiCallerByHash(String hash) {
        return Optional.ofNullable(current().apiTokens().get(hash));
    }

    /** Whether an API token of the file has this name. */
    public boolean hasApiName(String name) {
        return current().apiTokens().values().stream().anyMatch(caller -> caller.name().equals(name));
    }

    /** The name of the join token, if {@code token} is one. */
    public Optional<String> joinTokenName(String token) {
        Loaded current = current();
        return token == null ? Optional.empty() : Optional.ofNullable(current.joinTokens().get(sha256(token)));
    }

    private Loaded current() {
        if (file.due()) {
            try {
                file.reloadIfChanged(this::load);
            } catch (IOException e) {
                LOG.severe("cannot read " + file.path() + ": " + e.getMessage() + "; keeping the tokens read before");
            }
        }
        return loaded;
    }

    public static String sha256(String token) {
        return HexFormat.of().formatHex(SHA256.get().digest(token.getBytes(StandardCharsets.UTF_8)));
    }

    /** One digest per thread: looking one up in the providers on every request costs more than the hash itself. */
    private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    });

    private void load(byte[] content) {
        Properties properties = new Properties();
        try (Reader reader = new InputStreamReader(new ByteArrayInputStream(content), StandardCharsets.UTF_8)) {
            properties.load(reader);
        } catch (IOException | IllegalArgumentException e) {
            LOG.severe("cannot read " + file.path() + ": " + e.getMessage() + "; keeping the tokens read before");
            return;
        }
        Map<String, Caller> api = new HashMap<>();
        Map<String, String> join = new HashMap<>();
        for (String key : properties.stringPropertyNames()) {
            String value = properties.getProperty(key).trim();
            if (key.startsWith("api.")) {
                int colon = value.indexOf(':');
                Optional<Role> role = colon < 0 ? Optional.empty() : Role.parse(value.substring(0, colon));
                Optional<String> hash = colon < 0 ? Optional.empty() : hash(value.substring(colon + 1));
                if (role.isPresent() && hash.isPresent()) {
                    api.put(hash.get(), new Caller(key.substring(4), role.get()));
                } else {
                    LOG.warning(file.path() + ": '" + SafeText.echo(key) + "' is not <viewer|submitter|operator>:sha256:<64 hex digits>; ignored");
                }
            } else if (key.startsWith("join.")) {
                Optional<String> hash = hash(value);
                if (hash.isPresent()) {
                    join.put(hash.get(), key.substring(5));
                } else {
                    LOG.warning(file.path() + ": '" + SafeText.echo(key) + "' is not sha256:<64 hex digits>; ignored");
                }
            } else {
                LOG.warning(file.path() + ": '" + SafeText.echo(key) + "' is neither api.<name> nor join.<name>; ignored");
            }
        }
        loaded = new Loaded(Map.copyOf(api), Map.copyOf(join));
        LOG.info(() -> "credentials from " + file.path() + ": " + api.size() + " API token(s), " + join.size()
                + " join token(s)");
    }

    private static Optional<String> hash(String text) {
        String value = text.trim();
        if (!value.startsWith("sha256:")) {
            return Optional.empty();
        }
        String hex = value.substring(7).toLowerCase(java.util.Locale.ROOT);
        return hex.matches("[0-9a-f]{64}") ? Optional.of(hex) : Optional.empty();
    }
}
