package io.taskgrid.master.text;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class SafeTextTest {

    @Test
    void anEchoIsShortAndOnOneLine() {
        assertThat(SafeText.echo("short")).isEqualTo("short");
        String echoed = SafeText.echo("line one\r\nFAKE 2026-01-01 INFO forged\u2028" + "x".repeat(500));
        assertThat(echoed).hasSize(SafeText.ECHO_LIMIT).endsWith("...").doesNotContain("\n").doesNotContain("\r")
                .doesNotContain("\u2028").startsWith("line one??FAKE");
        assertThat(SafeText.echo(null)).isNull();
    }

    @Test
    void cuttingNeverLeavesHalfASurrogatePair() {
        String text = "a".repeat(60) + "\uD83D\uDE00".repeat(10);
        assertThat(SafeText.oneLine(text, 62)).doesNotContain("\uD83D").endsWith("...");
        assertThat(SafeText.oneLine("lone \uD800 high", 100)).isEqualTo("lone ? high");
        assertThat(SafeText.clip("x".repeat(10), 8)).isEqualTo("xxxxx...");
        assertThat(SafeText.clip("keep\nlines", 100)).isEqualTo("keep\nlines");
    }

    @Test
    void anIdentityFitsItsColumnAndDifferentOnesStayDifferent() {
        String prefix = "jwt:" + "u".repeat(200);
        String a = SafeText.fitIdentity(prefix + "a", 128);
        String b = SafeText.fitIdentity(prefix + "b", 128);
        assertThat(a).hasSizeLessThanOrEqualTo(128).startsWith("jwt:uuu").isNotEqualTo(b);
        assertThat(b).hasSizeLessThanOrEqualTo(128);
        assertThat(SafeText.fitIdentity("alice", 128)).isEqualTo("alice");
        assertThat(SafeText.fitIdentity("al\nice", 128)).doesNotContain("\n").isNotEqualTo(SafeText.fitIdentity("al?ice", 128));
    }
}
