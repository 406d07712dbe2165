package io.taskgrid.master.security;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

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

    @Test
    void changesToTheFileTakeEffectWithoutARestart() throws Exception {
        Path file = dir.resolve("tokens");
        Files.writeString(file, "join.old = sha256:" + TokenFile.sha256("old") + "\n");
        TokenFile tokens = new TokenFile(file);
        assertThat(tokens.joinTokenName("old")).isPresent();
        Files.writeString(file, "join.new = sha256:" + TokenFile.sha256("new") + "\n", StandardOpenOption.APPEND);
        assertThat(tokens.joinTokenName("new")).as("rotation: both valid").isPresent();
        assertThat(tokens.joinTokenName("old")).isPresent();
        Files.writeString(file, "join.new = sha256:" + TokenFile.sha256("new") + "\n");
        assertThat(tokens.joinTokenName("old")).as("revoked").isEmpty();
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
                "api.ok = VIEWER:sha256:" + TokenFile.sha256("ok").toUpperCase(), ""));
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
