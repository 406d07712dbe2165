package io.taskgrid.master.security;

import io.taskgrid.master.task.DatabaseDriver;
import jakarta.annotation.PostConstruct;
import jakarta.annotation.PreDestroy;
import jakarta.annotation.Resource;
import jakarta.enterprise.concurrent.ManagedScheduledExecutorService;
import jakarta.enterprise.context.ApplicationScoped;

import javax.sql.DataSource;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Clock;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Logger;
import java.util.regex.Pattern;

/**
 * API tokens that operators make, list and revoke through the API ({@code /tokens}), beside the tokens file. They live
 * in the database, so every master of one database knows the same ones; only a SHA-256 of each token is stored, and
 * the token itself is shown once, to whoever made it.
 *
 * <p>A token ends with a check of its random part (not a secret: it stops made-up and mistyped tokens before the
 * database, as the checksums of other services' tokens do). A token that passes is looked up by its hash; a token
 * found is kept for at most {@link #FRESH_NANOS} in a cache of at most {@link #CACHE_SIZE} entries, and a token not
 * found is not kept at all, so that no client can push the tokens in use out of the cache. An expiry is checked at
 * every use against the clock; a revocation on this master is seen at once (a lookup that began before it is not
 * kept), on another master of the same database within {@link #FRESH_NANOS}. When each token was last used is kept in memory and written every
 * {@link #LAST_USED_FLUSH_SECONDS} s, not on every request.
 */
@ApplicationScoped
public class ApiTokens {

    private static final Logger LOG = Logger.getLogger(ApiTokens.class.getName());
    private static final SecureRandom RANDOM = new SecureRandom();
    /** Tokens made here start with this, so that only they are looked for in the database. */
    public static final String PREFIX = "tgt_";
    /** The random part: 32 bytes in base64url. */
    private static final int BODY_LENGTH = 43;
    /** A check of the random part at the end, so that a made-up or mistyped token costs no query. */
    private static final int CHECK_LENGTH = 6;
    private static final int TOKEN_LENGTH = PREFIX.length() + BODY_LENGTH + CHECK_LENGTH;
    static final int CACHE_SIZE = 1024;
    static final long FRESH_NANOS = TimeUnit.SECONDS.toNanos(1);
    static final long LAST_USED_FLUSH_SECONDS = 30;
    /** Tokens that are neither revoked nor expired, at most: far more than people, far fewer than a flood. */
    public static final int MAX_ACTIVE = 10_000;
    /** What a name may be: it becomes the caller's name (a task's submittedBy); no ':' so none reads as "jwt:...". */
    public static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._@-]{0,63}");

    /** A token as the list shows it: everything but the secret. */
    public record Token(String id, String name, Role role, LocalDateTime createdAt, String createdBy,
                        LocalDateTime expiresAt, LocalDateTime revokedAt, String revokedBy, LocalDateTime lastUsedAt) {
    }

    /** A token just made: the secret, this once, and the rest. */
    public record Created(String secret, Token token) {
    }

    /** The database could not be asked; the caller should be told to come back, not that the token is bad. */
    public static final class Unavailable extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Unavailable(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** A token's row as a lookup read it. */
    record Found(String id, TokenFile.Caller caller, LocalDateTime expiresAt, boolean revoked) {
    }

    private record Cached(Optional<Found> found, long loadedAt) {
    }

    @Resource(lookup = "java:comp/env/jdbc/taskgrid", shareable = false)
    DataSource dataSource;

    @Resource(lookup = "java:comp/DefaultManagedScheduledExecutorService")
    ManagedScheduledExecutorService scheduler;

    private Clock clock = Clock.systemUTC();
    private final Map<String, Cached> cache = new LinkedHashMap<>(CACHE_SIZE, 0.75f, true) {
        private static final long serialVersionUID = 1L;

        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Cached> eldest) {
            return size() > CACHE_SIZE;
        }
    };
    /** Token id to when it was last used and not yet written; only ids of tokens that exist get in. */
    private final Map<String, LocalDateTime> lastUsed = new ConcurrentHashMap<>();
    /** Counts revocations: a lookup that began before one must not put what it read into the cache. */
    private final AtomicLong revocations = new AtomicLong();
    private ScheduledFuture<?> flusher;

    /** For CDI. */
    protected ApiTokens() {
    }

    /** Tokens in {@code dataSource}, for tests; nothing is scheduled. */
    public ApiTokens(DataSource dataSource, Clock clock) {
        this.dataSource = dataSource;
        this.clock = clock;
    }

    @PostConstruct
    void scheduleFlush() {
        if (scheduler != null) {
            flusher = scheduler.scheduleWithFixedDelay(this::flushLastUsedSafely, LAST_USED_FLUSH_SECONDS,
                    LAST_USED_FLUSH_SECONDS, TimeUnit.SECONDS);
        }
    }

    @PreDestroy
    void stop() {
        if (flusher != null) {
            flusher.cancel(false);
        }
        flushLastUsedSafely();
    }

    /**
     * The caller a token made here names, if it is one, neither revoked nor expired.
     *
     * @throws Unavailable when the database cannot be asked
     */
    public Optional<TokenFile.Caller> caller(String token) {
        return token == null ? Optional.empty() : caller(token, TokenFile.sha256(token));
    }

    /**
     * Like {@link #caller(String)}, given the token's SHA-256 ({@link TokenFile#sha256}) already made: a token in use
     * then costs that one hash and a look into the cache per request; the check of a token's random part is made
     * only for one that is not in the cache.
     */
    Optional<TokenFile.Caller> caller(String token, String hash) {
        if (token.length() != TOKEN_LENGTH || !token.startsWith(PREFIX)) {
            return Optional.empty();
        }
        long now = System.nanoTime();
        Cached cached;
        synchronized (cache) {
            cached = cache.get(hash);
        }
        if ((cached == null || now - cached.loadedAt() > FRESH_NANOS)
                && !token.endsWith(check(token.substring(PREFIX.length(), PREFIX.length() + BODY_LENGTH)))) {
            return Optional.empty();
        }
        if (cached == null || now - cached.loadedAt() > FRESH_NANOS) {
            long generation = revocations.get();
            cached = new Cached(lookUp(hash), now);
            synchronized (cache) {
                if (cached.found().isPresent() && revocations.get() == generation) {
                    cache.put(hash, cached);
                } else {
                    cache.remove(hash);
                }
            }
        }
        Optional<Found> found = cached.found();
        LocalDateTime at = now();
        if (found.isEmpty() || found.get().revoked()
                || (found.get().expiresAt() != null && !at.isBefore(found.get().expiresAt()))) {
            return Optional.empty();
        }
        lastUsed.put(found.get().id(), at);
        return Optional.of(found.get().caller());
    }

    /** Reads a token's row by its hash; package-private so that a test can hold a lookup in flight. */
    Optional<Found> lookUp(String hash) {
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT ID, NAME, ROLE, EXPIRES_AT, REVOKED_AT FROM TG_API_TOKEN "
                     + "WHERE TOKEN_HASH = ?")) {
            s.setString(1, hash);
            try (ResultSet r = s.executeQuery()) {
                if (!r.next()) {
                    return Optional.empty();
                }
                Optional<Role> role = Role.parse(r.getString(3));
                if (role.isEmpty()) {
                    return Optional.empty();
                }
                return Optional.of(new Found(r.getString(1), new TokenFile.Caller(r.getString(2), role.get()),
                        time(r.getTimestamp(4)), r.getTimestamp(5) != null));
            }
        } catch (SQLException e) {
            throw new Unavailable("cannot check the token now: the database did not answer", e);
        }
    }

    /**
     * Makes a token for {@code name} with {@code role}, valid until {@code expiresAt} (null: until revoked).
     *
     * @throws IllegalArgumentException when the name breaks {@link #NAME}, the expiry is not in the future, or
     *                                  {@link #MAX_ACTIVE} tokens are active already
     */
    public Created create(String name, Role role, LocalDateTime expiresAt, String createdBy) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("'name' must be 1 to 64 of A-Z a-z 0-9 . _ @ -, starting with a letter "
                    + "or digit");
        }
        LocalDateTime at = now();
        if (expiresAt != null && !expiresAt.isAfter(at)) {
            throw new IllegalArgumentException("the expiry must be in the future");
        }
        byte[] random = new byte[32];
        RANDOM.nextBytes(random);
        String body = Base64.getUrlEncoder().withoutPadding().encodeToString(random);
        String secret = PREFIX + body + check(body);
        Token token = new Token(newId(at), name, role, at, createdBy, expiresAt, null, null, null);
        // The checks and the insert are one transaction under a lock every master takes (and, on this master, a lock
        // in memory): two creations at once, through one master or two, cannot both pass a check the pair breaks.
        synchronized (creating) {
            try (Connection c = dataSource.getConnection()) {
                c.setAutoCommit(false);
                try {
                    DatabaseDriver.of(c).lockTokens(c);
                    checkAndInsert(c, token, secret, at);
                    c.commit();
                } catch (SQLException | RuntimeException e) {
                    c.rollback();
                    throw e;
                }
            } catch (SQLException e) {
                throw new Unavailable("cannot store the token: " + e.getMessage(), e);
            }
        }
        return new Created(secret, token);
    }

    private final Object creating = new Object();

    private void checkAndInsert(Connection c, Token token, String secret, LocalDateTime at) throws SQLException {
        String name = token.name();
        Role role = token.role();
        LocalDateTime expiresAt = token.expiresAt();
        String createdBy = token.createdBy();
        try (PreparedStatement count = c.prepareStatement("SELECT COUNT(*) FROM TG_API_TOKEN WHERE REVOKED_AT IS NULL "
                + "AND (EXPIRES_AT IS NULL OR EXPIRES_AT > ?)")) {
            count.setTimestamp(1, Timestamp.valueOf(at));
            try (ResultSet r = count.executeQuery()) {
                if (r.next() && r.getLong(1) >= MAX_ACTIVE) {
                    throw new IllegalArgumentException(MAX_ACTIVE + " tokens are active already, the most this master "
                            + "keeps; revoke some first");
                }
            }
        }
        try (PreparedStatement roles = c.prepareStatement("SELECT DISTINCT ROLE FROM TG_API_TOKEN WHERE NAME = ? "
                + "AND REVOKED_AT IS NULL AND (EXPIRES_AT IS NULL OR EXPIRES_AT > ?)")) {
            roles.setString(1, name);
            roles.setTimestamp(2, Timestamp.valueOf(at));
            try (ResultSet r = roles.executeQuery()) {
                while (r.next()) {
                    if (!role.name().equals(r.getString(1))) {
                        // One name, one caller: a submitter token of an operator's name could cancel that
                        // operator's tasks and replay its Idempotency-Keys.
                        throw new IllegalArgumentException("'" + name + "' already names an active "
                                + r.getString(1).toLowerCase(Locale.ROOT) + " token; a name has one role "
                                + "(revoke those first, or choose another name)");
                    }
                }
            }
        }
        try (PreparedStatement s = c.prepareStatement("INSERT INTO TG_API_TOKEN (ID, TOKEN_HASH, NAME, ROLE, "
                + "CREATED_AT, CREATED_BY, EXPIRES_AT) VALUES (?, ?, ?, ?, ?, ?, ?)")) {
            s.setString(1, token.id());
            s.setString(2, TokenFile.sha256(secret));
            s.setString(3, name);
            s.setString(4, role.name());
            s.setTimestamp(5, Timestamp.valueOf(at));
            s.setString(6, createdBy);
            setTime(s, 7, expiresAt);
            s.executeUpdate();
        }
    }

    /** Tokens newest first, strictly older than {@code beforeId} when it is given; never a secret. */
    public List<Token> list(String beforeId, int limit) {
        List<Token> tokens = new ArrayList<>();
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT ID, NAME, ROLE, CREATED_AT, CREATED_BY, EXPIRES_AT, "
                     + "REVOKED_AT, REVOKED_BY, LAST_USED_AT FROM TG_API_TOKEN"
                     + (beforeId == null ? "" : " WHERE ID < ?") + " ORDER BY ID DESC")) {
            s.setMaxRows(limit);
            if (beforeId != null) {
                s.setString(1, beforeId);
            }
            try (ResultSet r = s.executeQuery()) {
                while (r.next()) {
                    tokens.add(withPendingUse(token(r)));
                }
            }
        } catch (SQLException e) {
            throw new Unavailable("cannot list tokens: " + e.getMessage(), e);
        }
        return tokens;
    }

    public Optional<Token> find(String id) {
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT ID, NAME, ROLE, CREATED_AT, CREATED_BY, EXPIRES_AT, "
                     + "REVOKED_AT, REVOKED_BY, LAST_USED_AT FROM TG_API_TOKEN WHERE ID = ?")) {
            s.setString(1, id);
            try (ResultSet r = s.executeQuery()) {
                return r.next() ? Optional.of(withPendingUse(token(r))) : Optional.empty();
            }
        } catch (SQLException e) {
            throw new Unavailable("cannot read a token: " + e.getMessage(), e);
        }
    }

    /**
     * Revokes a token: refused from now on, here at once and on other masters within a second. A token revoked
     * before keeps its first revocation.
     *
     * @return the token as it is now, and whether this call revoked it; empty when there is none with that id
     */
    public Optional<Revocation> revoke(String id, String revokedBy) {
        boolean changed;
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("UPDATE TG_API_TOKEN SET REVOKED_AT = ?, REVOKED_BY = ? "
                     + "WHERE ID = ? AND REVOKED_AT IS NULL")) {
            s.setTimestamp(1, Timestamp.valueOf(now()));
            s.setString(2, revokedBy);
            s.setString(3, id);
            changed = s.executeUpdate() == 1;
        } catch (SQLException e) {
            throw new Unavailable("cannot revoke the token: " + e.getMessage(), e);
        }
        revocations.incrementAndGet();
        synchronized (cache) {
            cache.clear();
        }
        return find(id).map(token -> new Revocation(token, changed));
    }

    /** A token after a revoke, and whether that call revoked it (false: it was revoked before, and stays so). */
    public record Revocation(Token token, boolean byThisCall) {
    }

    /** How many lookups the cache holds now; never more than {@link #CACHE_SIZE}. */
    int cachedLookups() {
        synchronized (cache) {
            return cache.size();
        }
    }

    /** Writes when tokens were last used; returns how many rows it changed. */
    int flushLastUsed() {
        if (lastUsed.isEmpty()) {
            return 0;
        }
        int changed = 0;
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("UPDATE TG_API_TOKEN SET LAST_USED_AT = ? WHERE ID = ? "
                     + "AND (LAST_USED_AT IS NULL OR LAST_USED_AT < ?)")) {
            for (Map.Entry<String, LocalDateTime> use : List.copyOf(lastUsed.entrySet())) {
                s.setTimestamp(1, Timestamp.valueOf(use.getValue()));
                s.setString(2, use.getKey());
                s.setTimestamp(3, Timestamp.valueOf(use.getValue()));
                changed += s.executeUpdate();
                // Only once written, and only if no later use came meanwhile: a failure keeps it for the next try.
                lastUsed.remove(use.getKey(), use.getValue());
            }
        } catch (SQLException e) {
            throw new Unavailable("cannot record when tokens were used: " + e.getMessage(), e);
        }
        return changed;
    }

    private void flushLastUsedSafely() {
        try {
            flushLastUsed();
        } catch (RuntimeException e) {
            LOG.warning(() -> "when tokens were last used was not written (tried again later): " + e.getMessage());
        }
    }

    private LocalDateTime now() {
        return LocalDateTime.now(clock).truncatedTo(ChronoUnit.MILLIS);
    }

    /** The check a token ends with: the start of a SHA-256 of its random part, in base64url. */
    static String check(String body) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(("taskgrid token check:" + body)
                    .getBytes(StandardCharsets.UTF_8));
            return Base64.getUrlEncoder().withoutPadding().encodeToString(digest).substring(0, CHECK_LENGTH);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Sortable by time: the hex of the milliseconds, then random hex, 24 characters. */
    private static String newId(LocalDateTime at) {
        byte[] random = new byte[6];
        RANDOM.nextBytes(random);
        return String.format("%012x", at.toInstant(ZoneOffset.UTC).toEpochMilli()) + HexFormat.of().formatHex(random);
    }

    /** The token with a use this master has seen and not written yet: a list shows it at once. */
    private Token withPendingUse(Token t) {
        LocalDateTime pending = lastUsed.get(t.id());
        if (pending == null || (t.lastUsedAt() != null && !pending.isAfter(t.lastUsedAt()))) {
            return t;
        }
        return new Token(t.id(), t.name(), t.role(), t.createdAt(), t.createdBy(), t.expiresAt(), t.revokedAt(),
                t.revokedBy(), pending);
    }

    private static Token token(ResultSet r) throws SQLException {
        return new Token(r.getString(1), r.getString(2), Role.parse(r.getString(3)).orElse(Role.VIEWER),
                time(r.getTimestamp(4)), r.getString(5), time(r.getTimestamp(6)), time(r.getTimestamp(7)),
                r.getString(8), time(r.getTimestamp(9)));
    }

    private static LocalDateTime time(Timestamp timestamp) {
        return timestamp == null ? null : timestamp.toLocalDateTime();
    }

    private static void setTime(PreparedStatement s, int index, LocalDateTime time) throws SQLException {
        if (time == null) {
            s.setNull(index, Types.TIMESTAMP);
        } else {
            s.setTimestamp(index, Timestamp.valueOf(time));
        }
    }
}
