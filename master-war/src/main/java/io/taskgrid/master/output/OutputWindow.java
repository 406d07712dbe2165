package io.taskgrid.master.output;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * What of a stream is kept, given the cap ({@code taskgrid.output.limit.bytes}): the first half (the head) and the
 * last half (the tail) of everything the command printed, and a marker line where the middle went. The agent keeps
 * the same split; the master applies it again to what it is sent, so that no agent can make it store more.
 */
public final class OutputWindow {

    /** Chunks carry at most this many bytes. */
    public static final int MAX_CHUNK = 64 * 1024;
    /** Offsets stay below this: exact in a JSON number, and far from overflowing a long when a chunk is added. */
    public static final long MAX_OFFSET = 1L << 52;
    /** What a final report may carry beyond the cap: the marker line between head and tail. */
    public static final int MARKER_ALLOWANCE = 64;

    private final long head;
    private final long tail;

    public OutputWindow(long limit) {
        long capped = Math.max(0, limit);
        this.head = capped / 2;
        this.tail = capped - head;
    }

    public long head() {
        return head;
    }

    public long tail() {
        return tail;
    }

    /** The line shown where {@code dropped} bytes went; the agent's marker, byte for byte. */
    public static byte[] marker(long dropped) {
        return ("\n[taskgrid: " + dropped + " bytes dropped]\n").getBytes(StandardCharsets.US_ASCII);
    }

    /**
     * What to do with a chunk, given how far the stream is stored ({@code end}).
     *
     * @param store       store {@code data[skip..]} at {@code offset + skip}; false: nothing to store
     * @param skip        leading bytes already stored
     * @param newEnd      the stream's stored end afterwards (the acknowledgement)
     * @param dropBelow   tail rows ending at or before this offset fall out of the window (0: none)
     */
    public record Decision(boolean store, int skip, long newEnd, long dropBelow) {
    }

    public Decision accept(long end, long offset, int length) {
        if (offset > end && offset < head) {
            // The head is stored without gaps: the agent sends it again from the acknowledged end.
            return new Decision(false, 0, end, 0);
        }
        if (offset + length <= end) {
            return new Decision(false, 0, end, 0);
        }
        int skip = (int) Math.max(0, end - offset);
        long newEnd = offset + length;
        long dropBelow = newEnd - tail > head ? newEnd - tail : 0;
        return new Decision(true, skip, newEnd, dropBelow);
    }

    /** A stored piece of a stream; {@code seq} orders pieces of both streams as they arrived. */
    public record Piece(long offset, byte[] data, long seq) {
        public Piece(long offset, byte[] data) {
            this(offset, data, 0);
        }

        public long end() {
            return offset + data.length;
        }
    }

    /** A run of kept bytes or a gap, in stream order, as readers see the stream; {@code seq} as its piece's. */
    public record Part(long offset, byte[] data, long dropped, long seq) {
        public boolean isGap() {
            return data == null;
        }

        public long end() {
            return offset + (data == null ? dropped : data.length);
        }
    }

    /**
     * The visible parts of a stream from {@code from} on, given its stored pieces (in offset order) and its stored end:
     * bytes in the head, and in the last {@link #tail()} bytes before {@code end}; a gap part wherever bytes are
     * missing in between.
     */
    public List<Part> visible(List<Piece> pieces, long end, long from) {
        List<Part> parts = new ArrayList<>();
        long tailStart = Math.max(head, end - tail);
        long[][] windows = {{0, head}, {tailStart, Long.MAX_VALUE}};
        long at = from;
        for (Piece piece : pieces) {
            for (long[] window : windows) {
                long start = Math.max(Math.max(piece.offset(), at), window[0]);
                long stop = Math.min(piece.end(), window[1]);
                if (start >= stop) {
                    continue;
                }
                if (start > at) {
                    parts.add(new Part(at, null, start - at, piece.seq()));
                }
                parts.add(new Part(start, slice(piece, start, stop), 0, piece.seq()));
                at = stop;
            }
        }
        return parts;
    }

    private static byte[] slice(Piece piece, long from, long to) {
        byte[] out = new byte[(int) (to - from)];
        System.arraycopy(piece.data(), (int) (from - piece.offset()), out, 0, out.length);
        return out;
    }

    /** The parts as one byte string: a marker line stands for each gap. */
    public static byte[] render(List<Part> parts) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (Part part : parts) {
            out.writeBytes(part.isGap() ? marker(part.dropped()) : part.data());
        }
        return out.toByteArray();
    }

    /**
     * The stored pieces the final report's kept bytes stand for, for a stream that printed {@code total} bytes: the
     * agent sent everything when it printed no more than the cap, else the head, the marker and the tail. Empty if
     * {@code kept} does not have that shape (the agent was given another cap): then nothing is rebuilt.
     */
    public List<Piece> fromFinalReport(byte[] kept, long total) {
        if (total <= head + tail) {
            return kept.length == total && total > 0 ? List.of(new Piece(0, kept)) : List.of();
        }
        byte[] marker = marker(total - head - tail);
        if (kept.length != head + marker.length + tail) {
            return List.of();
        }
        byte[] headBytes = new byte[(int) head];
        System.arraycopy(kept, 0, headBytes, 0, (int) head);
        byte[] tailBytes = new byte[(int) tail];
        System.arraycopy(kept, (int) head + marker.length, tailBytes, 0, (int) tail);
        List<Piece> pieces = new ArrayList<>();
        if (head > 0) {
            pieces.add(new Piece(0, headBytes));
        }
        if (tail > 0) {
            pieces.add(new Piece(total - tail, tailBytes));
        }
        return pieces;
    }
}
