package io.taskgrid.master.output;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Reads a task's output from given offsets, as text segments and gaps in the order the chunks arrived: what both the
 * plain read and the follower of {@code GET /tasks/{id}/output} send. A character cut by a chunk boundary is never
 * shown as garbage: segments of one stream that meet mid-character are joined, and the incomplete end of what is
 * stored so far is left for the next read while the stream can still grow.
 */
public final class OutputReader {

    /** Text ({@code text} set) or a gap of {@code dropped} bytes, from {@code offset} to {@code next}. */
    public record Segment(StdStream stream, long offset, long next, String text, long dropped) {
        public boolean isGap() {
            return text == null;
        }

        /** What a plain reader sees: the text, or the marker line for a gap. */
        public String shown() {
            return text != null ? text : new String(OutputWindow.marker(dropped), StandardCharsets.US_ASCII);
        }
    }

    /** One read: its segments, and whether more was stored than it read (read again at once). */
    public record Batch(List<Segment> segments, boolean more) {
    }

    private final OutputStore store;

    public OutputReader(OutputStore store) {
        this.store = store;
    }

    /**
     * Reads the streams' stored output from {@code cursors} (one per stream, advanced here) up to about
     * {@code maxBytes} per stream.
     *
     * @param complete the streams will not grow any more (the task has ended): their last bytes are shown even if
     *                 they end mid-character
     */
    public Batch read(String attemptId, List<StdStream> streams, long[] cursors, int maxBytes, boolean complete) {
        record Ordered(long seq, Segment segment) {
        }
        List<Ordered> all = new ArrayList<>();
        boolean more = false;
        for (int i = 0; i < streams.size(); i++) {
            StdStream stream = streams.get(i);
            long end = store.storedEnd(attemptId, stream);
            OutputWindow window = store.window();
            long tailStart = Math.max(window.head(), end - window.tail());
            // Rows in the dropped middle wait for the writer to delete them: never read them.
            long from = cursors[i] >= window.head() && cursors[i] < tailStart ? tailStart : cursors[i];
            List<OutputWindow.Piece> pieces = store.pieces(attemptId, stream, from, maxBytes);
            boolean limited = !pieces.isEmpty() && pieces.get(pieces.size() - 1).end() < end;
            more |= limited;
            List<OutputWindow.Part> parts = joinCutCharacters(window.visible(pieces, end, cursors[i]));
            for (int p = 0; p < parts.size(); p++) {
                OutputWindow.Part part = parts.get(p);
                if (part.isGap()) {
                    all.add(new Ordered(part.seq(), new Segment(stream, part.offset(), part.end(), null, part.dropped())));
                    cursors[i] = part.end();
                    continue;
                }
                boolean last = p == parts.size() - 1;
                int length = part.data().length;
                if (last && (!complete || limited)) {
                    length = completeLength(part.data());
                }
                if (length == 0) {
                    continue;
                }
                all.add(new Ordered(part.seq(), new Segment(stream, part.offset(), part.offset() + length,
                        decode(part.data(), length), 0)));
                cursors[i] = part.offset() + length;
            }
        }
        all.sort(Comparator.comparingLong(Ordered::seq));
        return new Batch(all.stream().map(Ordered::segment).toList(), more);
    }

    /** The output the final report gave, from {@code cursors} on: for tasks whose agent streamed nothing. */
    public List<Segment> readFinalText(String taskId, List<StdStream> streams, long[] cursors) {
        List<Segment> segments = new ArrayList<>();
        for (int i = 0; i < streams.size(); i++) {
            byte[] bytes = store.finalText(taskId, streams.get(i)).getBytes(StandardCharsets.UTF_8);
            if (cursors[i] < bytes.length) {
                int from = (int) cursors[i];
                byte[] rest = new byte[bytes.length - from];
                System.arraycopy(bytes, from, rest, 0, rest.length);
                segments.add(new Segment(streams.get(i), from, bytes.length, decode(rest, rest.length), 0));
                cursors[i] = bytes.length;
            }
        }
        return segments;
    }

    /** Joins neighbouring parts where the first ends mid-character and the second goes straight on. */
    static List<OutputWindow.Part> joinCutCharacters(List<OutputWindow.Part> parts) {
        List<OutputWindow.Part> joined = new ArrayList<>(parts.size());
        for (OutputWindow.Part part : parts) {
            if (!joined.isEmpty()) {
                OutputWindow.Part previous = joined.get(joined.size() - 1);
                if (!previous.isGap() && !part.isGap() && previous.end() == part.offset()
                        && completeLength(previous.data()) < previous.data().length) {
                    byte[] both = new byte[previous.data().length + part.data().length];
                    System.arraycopy(previous.data(), 0, both, 0, previous.data().length);
                    System.arraycopy(part.data(), 0, both, previous.data().length, part.data().length);
                    joined.set(joined.size() - 1, new OutputWindow.Part(previous.offset(), both, 0, previous.seq()));
                    continue;
                }
            }
            joined.add(part);
        }
        return joined;
    }

    /** How many leading bytes end on a character boundary: the whole unless it ends in an incomplete UTF-8 sequence. */
    static int completeLength(byte[] data) {
        int n = data.length;
        // A UTF-8 sequence is at most 4 bytes: look back at most 3 for the lead byte of the last one.
        for (int back = 1; back <= Math.min(3, n); back++) {
            int b = data[n - back] & 0xFF;
            if ((b & 0xC0) == 0x80) {
                continue; // a continuation byte
            }
            int needed = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
            return needed > back ? n - back : n;
        }
        return n;
    }

    /** UTF-8 to text; bytes that are not UTF-8 become U+FFFD. */
    static String decode(byte[] data, int length) {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPLACE)
                .onUnmappableCharacter(CodingErrorAction.REPLACE);
        CharBuffer chars = CharBuffer.allocate(length + 1);
        decoder.decode(ByteBuffer.wrap(data, 0, length), chars, true);
        decoder.flush(chars);
        chars.flip();
        return chars.toString();
    }
}
