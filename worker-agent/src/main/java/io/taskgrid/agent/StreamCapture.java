package io.taskgrid.agent;

import java.nio.charset.StandardCharsets;

/**
 * What the agent keeps of one output stream of one attempt: the first half of the cap (the head) and a rolling window
 * of the last half (the tail), with the byte offsets of both in everything the command printed. Errors tend to be at
 * the end of a long log, so the middle is what goes when a command prints more than the cap.
 *
 * <p>The same buffers serve the live stream to the master: nothing is copied for it. The agent remembers how far the
 * master has acknowledged ({@code acked}) and how far it has sent on the current call ({@code sent}); after a
 * reconnect it sends again from {@code acked}. Bytes the master has not acknowledged are never dropped, except those
 * that fall out of the tail window, which the master would drop too. Memory is bounded by the cap, whatever the
 * command prints and however long the master is away.
 */
final class StreamCapture {

    /** The line put where bytes were dropped between head and tail; the master renders the same one. */
    static byte[] marker(long dropped) {
        return ("\n[taskgrid: " + dropped + " bytes dropped]\n").getBytes(StandardCharsets.US_ASCII);
    }

    /** A piece to send: {@code data} starts at {@code offset} in the stream. */
    record Chunk(long offset, byte[] data) {
    }

    private final int headLimit;
    private final int tailLimit;
    private byte[] head = new byte[0];
    private int headLen;
    /** A ring of the bytes past the head, the newest last; grows up to tailLimit, then overwrites its oldest. */
    private byte[] tail = new byte[0];
    private int tailStart;
    private int tailLen;
    private long total;
    private long acked;
    private long sent;
    /** System.nanoTime() when a chunk of this stream was last taken to be sent; 0: never. */
    private long lastSentAt;

    /** @param limit bytes kept at most (the assignment's output_limit_bytes): half for the head, half for the tail */
    StreamCapture(long limit) {
        long capped = Math.min(Integer.MAX_VALUE - 8L, Math.max(0, limit));
        this.headLimit = (int) (capped / 2);
        this.tailLimit = (int) Math.min(Integer.MAX_VALUE - 8L, Math.max(0, limit) - headLimit);
    }

    /**
     * Takes bytes the command printed.
     *
     * @return whether the sender should look now: unsent bytes appeared after none, or a full chunk is waiting
     */
    synchronized boolean append(byte[] bytes, int off, int len) {
        if (len <= 0) {
            return false;
        }
        boolean hadUnsent = unsent() > 0;
        long before = unsent();
        int toHead = (int) Math.max(0, Math.min(len, headLimit - total));
        if (toHead > 0) {
            ensureHead(headLen + toHead);
            System.arraycopy(bytes, off, head, headLen, toHead);
            headLen += toHead;
        }
        if (len > toHead && tailLimit > 0) {
            tailAppend(bytes, off + toHead, len - toHead);
        }
        total += len;
        if (!hadUnsent && unsent() > 0) {
            return true;
        }
        return before < OutputStreamer.MAX_CHUNK && unsent() >= OutputStreamer.MAX_CHUNK;
    }

    private void ensureHead(int needed) {
        if (needed > head.length) {
            int size = (int) Math.min(headLimit, Math.max(needed, Math.max(8192L, head.length * 2L)));
            byte[] bigger = new byte[size];
            System.arraycopy(head, 0, bigger, 0, headLen);
            head = bigger;
        }
    }

    private void tailAppend(byte[] bytes, int off, int len) {
        if (len >= tailLimit) {
            if (tail.length < tailLimit) {
                tail = new byte[tailLimit];
            }
            System.arraycopy(bytes, off + len - tailLimit, tail, 0, tailLimit);
            tailStart = 0;
            tailLen = tailLimit;
            return;
        }
        int needed = tailLen + len;
        if (needed > tail.length && tail.length < tailLimit) {
            int size = (int) Math.min(tailLimit, Math.max(needed, Math.max(8192L, tail.length * 2L)));
            byte[] bigger = new byte[size];
            copyTail(0, bigger, tailLen);
            tail = bigger;
            tailStart = 0;
        }
        int capacity = tail.length;
        int at = (tailStart + tailLen) % capacity;
        int first = Math.min(len, capacity - at);
        System.arraycopy(bytes, off, tail, at, first);
        System.arraycopy(bytes, off + first, tail, 0, len - first);
        if (needed > capacity) {
            tailStart = (tailStart + needed - capacity) % capacity;
            tailLen = capacity;
        } else {
            tailLen = needed;
        }
    }

    /** Copies {@code count} tail bytes, from {@code from} bytes after the oldest, to {@code target}. */
    private void copyTail(int from, byte[] target, int count) {
        if (count == 0) {
            return;
        }
        int capacity = tail.length;
        int at = (tailStart + from) % capacity;
        int first = Math.min(count, capacity - at);
        System.arraycopy(tail, at, target, 0, first);
        System.arraycopy(tail, 0, target, first, count - first);
    }

    /** Where the kept tail starts in the stream. */
    private long tailOffset() {
        return total - tailLen;
    }

    synchronized long total() {
        return total;
    }

    /** Whether bytes were dropped between head and tail. */
    synchronized boolean truncated() {
        return total > (long) headLen + tailLen;
    }

    /** The kept output as the final report carries it: head, then the marker and the tail when the middle went. */
    synchronized byte[] finalBytes() {
        long dropped = total - headLen - tailLen;
        byte[] marker = dropped > 0 ? marker(dropped) : new byte[0];
        byte[] all = new byte[headLen + marker.length + tailLen];
        System.arraycopy(head, 0, all, 0, headLen);
        System.arraycopy(marker, 0, all, headLen, marker.length);
        byte[] rest = new byte[tailLen];
        copyTail(0, rest, tailLen);
        System.arraycopy(rest, 0, all, headLen + marker.length, tailLen);
        return all;
    }

    /**
     * Whether the stream printed exactly {@code expected}: as many bytes, and those kept (head and tail) the same. With
     * a cap smaller than {@code expected}, the bytes dropped between head and tail are not compared.
     */
    synchronized boolean holdsExactly(byte[] expected) {
        if (total != expected.length) {
            return false;
        }
        for (int i = 0; i < headLen; i++) {
            if (head[i] != expected[i]) {
                return false;
            }
        }
        byte[] kept = new byte[tailLen];
        copyTail(0, kept, tailLen);
        for (int i = 0; i < tailLen; i++) {
            if (kept[i] != expected[expected.length - tailLen + i]) {
                return false;
            }
        }
        return true;
    }

    // ---- the live stream ----

    /** Bytes kept but not sent on the current call. */
    synchronized long unsent() {
        if (sent < headLen) {
            return (headLen - sent) + tailLen;
        }
        return Math.max(0, total - Math.max(sent, tailOffset()));
    }

    /**
     * How long until the unsent bytes are due, from {@code now} (System.nanoTime()): at once when a full chunk waits
     * or the stream was quiet for a batch interval (so a line printed now and then goes out at once), else one batch
     * interval after the last send. Long.MAX_VALUE when nothing waits.
     */
    synchronized long nanosUntilDue(long now, long batchNanos) {
        long unsent = unsent();
        if (unsent == 0) {
            return Long.MAX_VALUE;
        }
        if (unsent >= OutputStreamer.MAX_CHUNK || lastSentAt == 0) {
            return 0;
        }
        return Math.max(0, lastSentAt + batchNanos - now);
    }

    /** The next piece to send (at most {@code max} bytes), marked sent; null when everything kept was sent. */
    synchronized Chunk next(int max) {
        if (sent < headLen) {
            int n = (int) Math.min(max, headLen - sent);
            byte[] data = new byte[n];
            System.arraycopy(head, (int) sent, data, 0, n);
            Chunk chunk = new Chunk(sent, data);
            sent += n;
            lastSentAt = System.nanoTime();
            return chunk;
        }
        long from = Math.max(sent, tailOffset());
        if (from >= total) {
            return null;
        }
        int n = (int) Math.min(max, total - from);
        byte[] data = new byte[n];
        copyTail((int) (from - tailOffset()), data, n);
        sent = from + n;
        lastSentAt = System.nanoTime();
        return new Chunk(from, data);
    }

    /** The master has everything before {@code storedTo} that it keeps. */
    synchronized void acked(long storedTo) {
        long to = Math.min(storedTo, total);
        if (to > acked) {
            acked = to;
        }
        if (sent < acked) {
            sent = acked;
        }
    }

    synchronized long acked() {
        return acked;
    }

    /** A new call: what was sent but not acknowledged on the last one is sent again. */
    synchronized void rewind() {
        sent = acked;
    }

    /** Whether the master has acknowledged everything this stream printed (or all of it that is kept). */
    synchronized boolean allAcked() {
        return acked >= total;
    }
}
