package io.taskgrid.master.grpc;

import com.google.protobuf.ByteString;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

class CapturedOutputTest {

    @Test
    void outputWithinTheLimitIsKeptWhole() {
        CapturedOutput out = CapturedOutput.of(ByteString.copyFromUtf8("hello world\n"), false, 1024);
        assertThat(out.text()).isEqualTo("hello world\n");
        assertThat(out.truncated()).isFalse();
    }

    @Test
    void theMasterCapsAgainWhatAnAgentSendsPastTheLimit() {
        CapturedOutput out = CapturedOutput.of(ByteString.copyFromUtf8("x".repeat(100)), false, 10);
        assertThat(out.text()).isEqualTo("x".repeat(10));
        assertThat(out.truncated()).isTrue();
    }

    @Test
    void theAgentsTruncatedFlagIsKept() {
        assertThat(CapturedOutput.of(ByteString.copyFromUtf8("abc"), true, 10).truncated()).isTrue();
    }

    @Test
    void aCharacterCutInHalfByTheCapIsDropped() {
        byte[] bytes = "ab✓".getBytes(StandardCharsets.UTF_8); // ✓ is 3 bytes
        CapturedOutput out = CapturedOutput.of(ByteString.copyFrom(bytes), false, 4);
        assertThat(out.text()).isEqualTo("ab");
        assertThat(out.truncated()).isTrue();
    }

    @Test
    void bytesThatAreNotUtf8BecomeReplacementCharacters() {
        CapturedOutput out = CapturedOutput.of(ByteString.copyFrom(new byte[]{'a', (byte) 0xff, 'b'}), false, 100);
        assertThat(out.text()).isEqualTo("a\uFFFDb");
    }
}
