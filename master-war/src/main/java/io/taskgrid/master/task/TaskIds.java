package io.taskgrid.master.task;

import java.security.SecureRandom;
import java.util.UUID;

/**
 * Task and attempt ids: UUID version 7, made strictly increasing within this process.
 *
 * <p>Because the ids sort by creation time as plain strings, the id alone gives first-in-first-out dispatch order and
 * a stable, newest-first paging cursor, without a second sequence column.
 */
public final class TaskIds {

    private static final SecureRandom RANDOM = new SecureRandom();
    private static long lastMillis;
    private static int counter;

    private TaskIds() {
    }

    public static synchronized String next() {
        long now = System.currentTimeMillis();
        if (now > lastMillis) {
            lastMillis = now;
            counter = RANDOM.nextInt(1 << 10);
        } else {
            counter++;
            if (counter >= 1 << 12) {
                // 4096 ids in one millisecond (or a clock step back): borrow the next millisecond.
                lastMillis++;
                counter = 0;
            }
        }
        long msb = (lastMillis << 16) | (0x7L << 12) | counter;
        long lsb = (RANDOM.nextLong() & 0x3FFFFFFFFFFFFFFFL) | 0x8000000000000000L;
        return new UUID(msb, lsb).toString();
    }

    public static boolean looksValid(String id) {
        return id != null && id.length() == 36 && id.matches("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
    }
}
