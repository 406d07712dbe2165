package io.taskgrid.master.security;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.logging.Logger;

/**
 * The credentials the master accepts, as SHA-256 hashes only, in a properties file:
 *
 * <pre>
 * api.&lt;name&gt;  = &lt;role&gt;:sha256:&lt;hex&gt;     an API token; &lt;name&gt; is recorded as a task's submittedBy
 * join.&lt;name&gt; = sha256:&lt;hex&gt;            a join token for agents; several may be valid at once
 * </pre>
 *
 * The file is read again whenever it changes, so tokens are added, rotated and revoked without a restart. Pure apart
 * from reading the file: no CDI, so it is tested directly.
 */
public final class TokenFile {

    private static final Logger LOG = Logger.getLogger(TokenFile.class.getName());

    /** An authenticated API caller. */
    public record Caller(String name, Role role) {
    }

    private final Path file;
    private long loadedModified = Long.MIN_VALUE;
    private Map<String, Caller> apiTokens = Map.of();
    private Map<String, String> joinTokens = Map.of();

    public TokenFile(Path file) {
        this.file = file;
    }

    public Path path() {
        return file;
    }

    public synchronized Optional<Caller> apiCaller(String token) {
        reloadIfChanged();
        return token == null ? Optional.empty() : Optional.ofNullable(apiTokens.get(sha256(token)));
    }

    /** The name of the join token, if {@code token} is one. */
    public synchronized Optional<String> joinTokenName(String token) {
        reloadIfChanged();
        return token == null ? Optional.empty() : Optional.ofNullable(joinTokens.get(sha256(token)));
    }

    public static String sha256(String token) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(token.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private void reloadIfChanged() {
        long modified;
        try {
            modified = Files.exists(file) ? Files.getLastModifiedTime(file).toMillis() + Files.size(file) : -1;
        } catch (IOException e) {
            modified = -1;
        }
        if (modified == loadedModified) {
            return;
        }
        Properties properties = new Properties();
        if (modified >= 0) {
            try (Reader reader = Files.newBufferedReader(file)) {
                properties.load(reader);
            } catch (IOException e) {
                LOG.severe("cannot read " + file + ": " + e.getMessage() + "; keeping the tokens read before");
                return;
            }
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
                    LOG.warning(file + ": '" + key + "' is not <viewer|submitter|operator>:sha256:<64 hex digits>; ignored");
                }
            } else if (key.startsWith("join.")) {
                Optional<String> hash = hash(value);
                if (hash.isPresent()) {
                    join.put(hash.get(), key.substring(5));
                } else {
                    LOG.warning(file + ": '" + key + "' is not sha256:<64 hex digits>; ignored");
                }
            } else {
                LOG.warning(file + ": '" + key + "' is neither api.<name> nor join.<name>; ignored");
            }
        }
        apiTokens = Map.copyOf(api);
        joinTokens = Map.copyOf(join);
        loadedModified = modified;
        LOG.info(() -> "credentials from " + file + ": " + apiTokens.size() + " API token(s), " + joinTokens.size()
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
