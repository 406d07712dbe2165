package io.taskgrid.master.grpc;

import com.google.protobuf.ByteString;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * A stream's captured bytes as text for the API. The agent already caps what it sends; the master caps again so that a
 * misbehaving agent cannot fill the database. Bytes that are not UTF-8 become U+FFFD (so does NUL, which no text column
 * of PostgreSQL holds), and a multi-byte character cut by the cap is dropped rather than shown as garbage.
 */
record CapturedOutput(String text, boolean truncated) {

    static CapturedOutput of(ByteString bytes, boolean truncatedByAgent, long limit) {
        boolean truncated = truncatedByAgent;
        ByteString kept = bytes;
        if (bytes.size() > limit) {
            kept = bytes.substring(0, (int) limit);
            truncated = true;
        }
        return new CapturedOutput(decode(kept.asReadOnlyByteBuffer(), truncated), truncated);
    }

    private static String decode(ByteBuffer bytes, boolean cutAtEnd) {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPLACE)
                .onUnmappableCharacter(CodingErrorAction.REPLACE);
        CharBuffer chars = CharBuffer.allocate(bytes.remaining() + 1);
        // Not end of input when cut: an incomplete last character stays unread instead of becoming U+FFFD.
        decoder.decode(bytes, chars, !cutAtEnd);
        if (!cutAtEnd) {
            decoder.flush(chars);
        }
        chars.flip();
        // NUL is valid UTF-8 but no text column of PostgreSQL can hold it: shown like any other unreadable byte.
        return chars.toString().replace('\u0000', '\uFFFD');
    }
}
