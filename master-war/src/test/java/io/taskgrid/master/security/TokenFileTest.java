package io.taskgrid.master.security;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;

import static org.assertj.core.api.Assertions.assertThat;

class TokenFileTest {

    @TempDir
    Path dir;

    @Test
    void apiTokensCarryANameAndARoleAndJoinTokensAName() throws Exception {
        Path file = dir.resolve("tokens");
        Files.writeString(file, "api.ci = submitter:sha256:" + TokenFile.sha256("t1") + "\n"
                + "join.rack-a = sha256:" + TokenFile.sha256("j1") + "\n");
        TokenFile tokens = new TokenFile(file);
        assertThat(tokens.apiCaller("t1")).contains(new TokenFile.Caller("ci", Role.SUBMITTER));
        assertThat(tokens.apiCaller("t2")).isEmpty();
        assertThat(tokens.apiCaller(null)).isEmpty();
        assertThat(tokens.joinTokenName("j1")).contains("rack-a");
        assertThat(tokens.joinTokenName("t1")).as("an API token is no join token").isEmpty();
        assertThat(tokens.apiCaller("j1")).as("and the other way round").isEmpty();
    }

    /** A clock the test moves by hand. */
    private static final class ManualClock implements java.util.function.LongSupplier {
        long now = 1_000_000_000L;

        @Override
        public long getAsLong() {
            return now;
        }

        void pass(long nanos) {
            now += nanos;
        }
    }

    @Test
    void changesToTheFileTakeEffectWithinASecondWithoutARestart() throws Exception {
        Path file = dir.resolve("tokens");
        ManualClock clock = new ManualClock();
        Files.writeString(file, "join.old = sha256:" + TokenFile.sha256("old") + "\n");
        TokenFile tokens = new TokenFile(file, clock);
        assertThat(tokens.joinTokenName("old")).isPresent();
        Files.writeString(file, "join.new = sha256:" + TokenFile.sha256("new") + "\n", StandardOpenOption.APPEND);
        assertThat(tokens.joinTokenName("new")).as("not looked at again within the second").isEmpty();
        clock.pass(TokenFile.CHECK_INTERVAL_NANOS);
        assertThat(tokens.joinTokenName("new")).as("rotation: both valid").isPresent();
        assertThat(tokens.joinTokenName("old")).isPresent();
        Files.writeString(file, "join.new = sha256:" + TokenFile.sha256("new") + "\n");
        clock.pass(TokenFile.CHECK_INTERVAL_NANOS);
        assertThat(tokens.joinTokenName("old")).as("revoked").isEmpty();
    }

    @Test
    void anEditOfTheSameSizeAndTimeIsNoticedToo() throws Exception {
        Path file = dir.resolve("tokens");
        ManualClock clock = new ManualClock();
        // Two lines of equal length: the revocation of one for the other changes neither size nor (reset) mtime.
        String first = "api.aaaa = viewer:sha256:" + TokenFile.sha256("first") + "\n";
        String second = "api.bbbb = viewer:sha256:" + TokenFile.sha256("other") + "\n";
        assertThat(first).hasSameSizeAs(second);
        Files.writeString(file, first);
        java.nio.file.attribute.FileTime mtime = Files.getLastModifiedTime(file);
        TokenFile tokens = new TokenFile(file, clock);
        assertThat(tokens.apiCaller("first")).isPresent();
        Files.writeString(file, second);
        Files.setLastModifiedTime(file, mtime);
        clock.pass(TokenFile.CHECK_INTERVAL_NANOS);
        assertThat(tokens.apiCaller("first")).as("revoked although size and mtime are unchanged").isEmpty();
        assertThat(tokens.apiCaller("other")).isPresent();
    }

    @Test
    void aNameTooLongForTheRecordIsShortenedAndStaysDistinct() {
        String common = "x".repeat(300);
        TokenFile.Caller a = new TokenFile.Caller(common + "a", Role.VIEWER);
        TokenFile.Caller b = new TokenFile.Caller(common + "b", Role.VIEWER);
        assertThat(a.name()).hasSizeLessThanOrEqualTo(TokenFile.MAX_NAME_LENGTH).startsWith("xxxx");
        assertThat(b.name()).hasSizeLessThanOrEqualTo(TokenFile.MAX_NAME_LENGTH);
        assertThat(a.name()).isNotEqualTo(b.name());
        assertThat(new TokenFile.Caller("ci", Role.VIEWER).name()).isEqualTo("ci");
        assertThat(new TokenFile.Caller("evil\nname", Role.VIEWER).name()).doesNotContain("\n");
    }

    @Test
    void malformedLinesAreIgnoredNotFatal() throws Exception {
        Path file = dir.resolve("tokens");
        Files.writeString(file, String.join("\n",
                "api.a = admin:sha256:" + TokenFile.sha256("a"),
                "api.b = viewer:md5:abc",
                "api.c = viewer:sha256:xyz",
                "join.d = " + TokenFile.sha256("d"),
                "other = 1",
                "api.ok = VIEWER:sha256:" + TokenFile.sha256("ok").toUpperCase(Locale.ROOT), ""));
        TokenFile tokens = new TokenFile(file);
        assertThat(tokens.apiCaller("a")).isEmpty();
        assertThat(tokens.joinTokenName("d")).isEmpty();
        assertThat(tokens.apiCaller("ok")).contains(new TokenFile.Caller("ok", Role.VIEWER));
    }

    @Test
    void noFileMeansNoTokens() {
        assertThat(new TokenFile(dir.resolve("missing")).apiCaller("x")).isEmpty();
    }
}
