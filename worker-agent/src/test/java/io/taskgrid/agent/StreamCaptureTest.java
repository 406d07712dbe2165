package io.taskgrid.agent;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** Capture of one stream: head and tail under the cap, offsets, and what is sent again after a reconnect. */
class StreamCaptureTest {

    private static void append(StreamCapture capture, String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        capture.append(bytes, 0, bytes.length);
    }

    private static String text(byte[] bytes) {
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private static String drain(StreamCapture capture, int max, StringBuilder offsets) {
        StringBuilder sent = new StringBuilder();
        StreamCapture.Chunk chunk;
        while ((chunk = capture.next(max)) != null) {
            offsets.append(chunk.offset()).append(' ');
            sent.append(text(chunk.data()));
        }
        return sent.toString();
    }

    @Test
    void underTheCapEverythingIsKeptAndNothingIsMarkedTruncated() {
        StreamCapture capture = new StreamCapture(20);
        append(capture, "hello ");
        append(capture, "world\n");
        assertThat(text(capture.finalBytes())).isEqualTo("hello world\n");
        assertThat(capture.truncated()).isFalse();
        assertThat(capture.total()).isEqualTo(12);
    }

    @Test
    void pastTheCapTheHeadAndTheTailAreKeptWithAMarkerBetween() {
        StreamCapture capture = new StreamCapture(10); // head 5, tail 5
        append(capture, "0123");
        append(capture, "456789abcdefghij");
        append(capture, "klm");
        assertThat(text(capture.finalBytes())).isEqualTo("01234\n[taskgrid: 13 bytes dropped]\nijklm");
        assertThat(capture.truncated()).isTrue();
        assertThat(capture.total()).isEqualTo(23);
    }

    @Test
    void theTailWindowMatchesTheLastBytesWhateverTheReadSizes() {
        Random random = new Random(42);
        for (int round = 0; round < 200; round++) {
            int limit = random.nextInt(64);
            StreamCapture capture = new StreamCapture(limit);
            StringBuilder all = new StringBuilder();
            int reads = random.nextInt(20);
            for (int i = 0; i < reads; i++) {
                StringBuilder piece = new StringBuilder();
                int n = random.nextInt(40);
                for (int j = 0; j < n; j++) {
                    piece.append((char) ('a' + random.nextInt(26)));
                }
                append(capture, piece.toString());
                all.append(piece);
            }
            int head = limit / 2;
            int tail = limit - head;
            String expected = all.length() <= limit ? all.toString()
                    : all.substring(0, head) + "\n[taskgrid: " + (all.length() - limit) + " bytes dropped]\n"
                    + all.substring(all.length() - tail);
            assertThat(text(capture.finalBytes())).as("limit %d, printed %s", limit, all).isEqualTo(expected);
        }
    }

    @Test
    void chunksCarryTheirOffsetsAndSkipWhatFellOutOfTheTail() {
        StreamCapture capture = new StreamCapture(10);
        append(capture, "0123456789abcdefghij"); // head 01234, tail fghij
        StringBuilder offsets = new StringBuilder();
        assertThat(drain(capture, 3, offsets)).isEqualTo("01234fghij");
        assertThat(offsets.toString()).isEqualTo("0 3 15 18 ");
        assertThat(capture.unsent()).isZero();
    }

    @Test
    void whatWasSentButNotAcknowledgedIsSentAgainAfterAReconnect() {
        StreamCapture capture = new StreamCapture(1000);
        append(capture, "first line\n");
        assertThat(drain(capture, 100, new StringBuilder())).isEqualTo("first line\n");
        capture.acked(6);
        append(capture, "second line\n");
        assertThat(capture.unsent()).isEqualTo(12);
        capture.rewind(); // the call broke: the master has 6 bytes
        StringBuilder offsets = new StringBuilder();
        assertThat(drain(capture, 100, offsets)).isEqualTo("line\nsecond line\n");
        assertThat(offsets.toString()).isEqualTo("6 ");
        assertThat(capture.allAcked()).isFalse();
        capture.acked(23);
        assertThat(capture.allAcked()).isTrue();
        capture.rewind();
        assertThat(capture.next(100)).as("nothing is sent twice once acknowledged").isNull();
    }

    @Test
    void unacknowledgedTailBytesThatFallOutOfTheWindowAreNotKeptForTheMaster() {
        StreamCapture capture = new StreamCapture(10);
        append(capture, "01234");
        assertThat(drain(capture, 100, new StringBuilder())).isEqualTo("01234");
        capture.acked(5);
        append(capture, "56789");
        append(capture, "abcdefghijklmnop"); // while the master is away
        capture.rewind();
        StringBuilder offsets = new StringBuilder();
        assertThat(drain(capture, 100, offsets)).isEqualTo("lmnop");
        assertThat(offsets.toString()).isEqualTo("21 ");
    }
}
