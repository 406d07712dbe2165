package io.taskgrid.master.security;

import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import java.util.logging.Logger;

/**
 * A warning a client can trigger, written at most once per {@link #INTERVAL_NANOS}, each line with the number
 * refused since the one before. Anyone who can reach the port (or holds a join token) can call as fast as the master
 * answers: a line per refusal would let that client rotate every earlier line out of the log. One instance per kind
 * of refusal, so that one kind flooding does not hide the first line of another.
 */
public final class RefusalLog {

    /** At most one line a minute per kind. */
    public static final long INTERVAL_NANOS = TimeUnit.MINUTES.toNanos(1);

    private final Logger logger;
    private final String counted;
    private final LongSupplier nanoClock;
    private long nextLine;
    private long unlogged;

    /**
     * @param counted what the count of unlogged refusals is of, as the line says it: "call(s) refused" gives
     *                "; 12 more call(s) refused since the last such line"
     */
    public RefusalLog(Logger logger, String counted) {
        this(logger, counted, System::nanoTime);
    }

    public RefusalLog(Logger logger, String counted, LongSupplier nanoClock) {
        this.logger = logger;
        this.counted = counted;
        this.nanoClock = nanoClock;
        this.nextLine = nanoClock.getAsLong();
    }

    /** Logs {@code message} (built only if it is written) as a warning, unless a line of this kind went out lately. */
    public void warn(Supplier<String> message) {
        long before = refusedSinceLastLine();
        if (before >= 0) {
            logger.warning(() -> message.get() + (before == 0 ? ""
                    : "; " + before + " more " + counted + " since the last such line"));
        }
    }

    /** -1 when this refusal goes unlogged; else how many went unlogged before it (and the count starts again). */
    private synchronized long refusedSinceLastLine() {
        long now = nanoClock.getAsLong();
        if (now - nextLine < 0) {
            unlogged++;
            return -1;
        }
        nextLine = now + INTERVAL_NANOS;
        long before = unlogged;
        unlogged = 0;
        return before;
    }
}
