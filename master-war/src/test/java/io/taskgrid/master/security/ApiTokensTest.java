package io.taskgrid.master.security;

import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.task.TestDatabase;
import org.h2.jdbcx.JdbcConnectionPool;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.sql.DataSource;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** API tokens against a real, migrated H2 database. */
class ApiTokensTest {

    @TempDir
    Path dir;

    private TaskStore store;
    private DataSource db;
    private MutableClock clock;
    private ApiTokens tokens;

    /** A clock a test moves by hand, to pass an expiry without waiting for it. */
    static final class MutableClock extends Clock {
        private Instant now = Instant.parse("2026-12-01T12:00:00Z");

        void advance(Duration by) {
            now = now.plus(by);
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    @BeforeEach
    void open() {
        store = TestDatabase.openStore(dir);
        // Pooled, as the server's data source is: a new H2 session per lookup would make this test about sessions.
        db = JdbcConnectionPool.create(((JdbcDataSource) TestDatabase.h2(dir)).getURL(), "taskgrid", "taskgrid");
        clock = new MutableClock();
        tokens = new ApiTokens(db, clock);
    }

    @AfterEach
    void close() {
        ((JdbcConnectionPool) db).dispose();
        store.close();
    }

    private LocalDateTime now() {
        return LocalDateTime.ofInstant(clock.instant(), ZoneOffset.UTC);
    }

    @Test
    void aTokenMadeForANameAndRoleNamesThatCallerAndOnlyItsHashIsStored() throws Exception {
        ApiTokens.Created created = tokens.create("ci", Role.SUBMITTER, null, "ops");
        assertThat(created.secret()).startsWith("tgt_").hasSize(53);
        assertThat(tokens.caller(created.secret())).contains(new TokenFile.Caller("ci", Role.SUBMITTER));
        assertThat(TestDatabase.rows(db, "SELECT TOKEN_HASH, NAME, ROLE, CREATED_BY FROM TG_API_TOKEN").get(0))
                .containsExactly(TokenFile.sha256(created.secret()), "ci", "SUBMITTER", "ops");
        assertThat(TestDatabase.rows(db, "SELECT * FROM TG_API_TOKEN").toString()).doesNotContain(created.secret());
        assertThat(tokens.caller("tgt_" + "x".repeat(49))).isEmpty();
        assertThat(tokens.caller(created.secret() + "x")).isEmpty();
        String body = created.secret().substring(4, 47);
        assertThat(tokens.caller("tgt_" + body + "AAAAAA")).as("a wrong check is refused before any lookup").isEmpty();
    }

    @Test
    void anExpiredTokenIsRefusedTheMomentItExpires() {
        ApiTokens.Created created = tokens.create("short", Role.VIEWER, now().plusMinutes(10), "ops");
        assertThat(tokens.caller(created.secret())).isPresent();
        clock.advance(Duration.ofMinutes(10));
        assertThat(tokens.caller(created.secret())).as("expired, though the lookup is still cached").isEmpty();
    }

    @Test
    void aTokenInUseIsLookedUpOncePerSecondNotPerRequestAndARevocationStopsItAtOnce() throws Exception {
        java.util.concurrent.atomic.AtomicInteger lookups = new java.util.concurrent.atomic.AtomicInteger();
        ApiTokens counting = new ApiTokens(db, clock) {
            @Override
            java.util.Optional<Found> lookUp(String hash) {
                lookups.incrementAndGet();
                return super.lookUp(hash);
            }
        };
        java.nio.file.Path file = dir.resolve("tokens.properties");
        java.nio.file.Files.writeString(file, "api.ops = operator:sha256:" + TokenFile.sha256("tgo_file") + "\n");
        Credentials credentials = new Credentials(true, file.toString(), "localhost", 9092, 50051, counting);
        ApiTokens.Created created = counting.create("ci", Role.SUBMITTER, null, "ops");
        for (int i = 0; i < 200; i++) {
            assertThat(credentials.apiCaller(created.secret())).contains(new TokenFile.Caller("ci", Role.SUBMITTER));
        }
        assertThat(lookups.get()).as("200 requests within about a second").isBetween(1, 5);
        assertThat(credentials.apiCaller("tgo_file")).contains(new TokenFile.Caller("ops", Role.OPERATOR));
        String body = created.secret().substring(4, 47);
        int before = lookups.get();
        assertThat(credentials.apiCaller("tgt_" + body + "AAAAAA")).as("a wrong check costs no query").isEmpty();
        assertThat(lookups.get()).isEqualTo(before);

        counting.revoke(created.token().id(), "alice");
        assertThat(credentials.apiCaller(created.secret())).as("refused at the very next request").isEmpty();
        assertThat(credentials.apiCaller(created.secret())).isEmpty();
    }

    @Test
    void aRevokedTokenIsRefusedAtOnceAndItsRevocationRecorded() {
        ApiTokens.Created created = tokens.create("leaked", Role.OPERATOR, null, "ops");
        assertThat(tokens.caller(created.secret())).isPresent();
        ApiTokens.Revocation revocation = tokens.revoke(created.token().id(), "alice").orElseThrow();
        assertThat(revocation.byThisCall()).isTrue();
        ApiTokens.Token revoked = revocation.token();
        assertThat(tokens.caller(created.secret())).isEmpty();
        assertThat(revoked.revokedBy()).isEqualTo("alice");
        assertThat(revoked.revokedAt()).isEqualTo(now());
        ApiTokens.Revocation again = tokens.revoke(created.token().id(), "bob").orElseThrow();
        assertThat(again.token().revokedBy()).as("the first revocation stays").isEqualTo("alice");
        assertThat(again.byThisCall()).isFalse();
        assertThat(tokens.revoke("000000000000000000000000", "bob")).isEmpty();
    }

    @Test
    void theListShowsEveryTokenNewestFirstWithoutSecretsAndPages() throws Exception {
        ApiTokens.Created first = tokens.create("a", Role.VIEWER, null, "ops");
        clock.advance(Duration.ofMillis(5));
        ApiTokens.Created second = tokens.create("b", Role.SUBMITTER, null, "ops");
        clock.advance(Duration.ofMillis(5));
        ApiTokens.Created third = tokens.create("c", Role.OPERATOR, null, "ops");
        List<ApiTokens.Token> all = tokens.list(null, 10);
        assertThat(all).extracting(ApiTokens.Token::id).containsExactly(third.token().id(), second.token().id(),
                first.token().id());
        assertThat(all.toString()).doesNotContain(first.secret(), second.secret(), third.secret());
        assertThat(tokens.list(second.token().id(), 10)).extracting(ApiTokens.Token::name).containsExactly("a");
    }

    @Test
    void whenATokenWasLastUsedIsShownAtOnceAndWrittenLaterNotOnEveryRequest() throws Exception {
        ApiTokens.Created created = tokens.create("ci", Role.SUBMITTER, null, "ops");
        tokens.caller(created.secret());
        assertThat(tokens.find(created.token().id()).orElseThrow().lastUsedAt()).as("shown before it is written")
                .isEqualTo(now());
        assertThat(TestDatabase.rows(db, "SELECT LAST_USED_AT FROM TG_API_TOKEN").get(0).get(0)).isNull();
        assertThat(tokens.flushLastUsed()).isEqualTo(1);
        assertThat(TestDatabase.rows(db, "SELECT LAST_USED_AT FROM TG_API_TOKEN").get(0).get(0)).isNotNull();
        assertThat(tokens.find(created.token().id()).orElseThrow().lastUsedAt()).isEqualTo(now());
        assertThat(tokens.flushLastUsed()).as("nothing new to write").isZero();
    }

    @Test
    void namesAndExpiriesAreChecked() {
        assertThatThrownBy(() -> tokens.create("jwt:alice", Role.VIEWER, null, "ops"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'name' must be 1 to 64");
        assertThatThrownBy(() -> tokens.create("x".repeat(65), Role.VIEWER, null, "ops"))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> tokens.create("ok", Role.VIEWER, now(), "ops"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("in the future");
    }

    @Test
    void unknownTokensAreNotKeptSoTheyCannotPushTheTokensInUseOutOfTheCache() {
        ApiTokens.Created real = tokens.create("ci", Role.SUBMITTER, null, "ops");
        tokens.caller(real.secret());
        assertThat(tokens.cachedLookups()).isEqualTo(1);
        for (int i = 0; i < 3000; i++) {
            String body = String.format("%043d", i);
            assertThat(tokens.caller("tgt_" + body + ApiTokens.check(body))).isEmpty();
        }
        assertThat(tokens.cachedLookups()).as("only the token that exists").isEqualTo(1);
    }

    /** A lookup that read the row before a revocation must not put it back into the cache after it. */
    @Test
    void aLookupInFlightDuringARevocationLeavesNothingBehindThatAcceptsTheToken() throws Exception {
        java.util.concurrent.CountDownLatch read = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
        ApiTokens held = new ApiTokens(db, clock) {
            @Override
            java.util.Optional<Found> lookUp(String hash) {
                java.util.Optional<Found> found = super.lookUp(hash);
                if (Thread.currentThread().getName().equals("in-flight")) {
                    read.countDown();
                    try {
                        go.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                return found;
            }
        };
        ApiTokens.Created created = held.create("racer", Role.VIEWER, null, "ops");
        java.util.concurrent.CompletableFuture<java.util.Optional<TokenFile.Caller>> concurrent =
                new java.util.concurrent.CompletableFuture<>();
        Thread thread = new Thread(() -> concurrent.complete(held.caller(created.secret())), "in-flight");
        thread.start();
        read.await();
        held.revoke(created.token().id(), "ops");
        go.countDown();
        assertThat(concurrent.get()).as("a request that came before the revocation").isPresent();
        assertThat(held.caller(created.secret())).as("every request after it").isEmpty();
    }
}
