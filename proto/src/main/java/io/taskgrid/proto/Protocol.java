package io.taskgrid.proto;

/**
 * What agent and master must agree on about the Connect stream, in the one module both build from: a figure that
 * differed between the two would make a well-behaved agent look hostile to its master.
 */
public final class Protocol {

    /** The protocol this build speaks (Hello.protocol). Master and agents are upgraded together. */
    public static final int VERSION = 2;

    /**
     * The most assignments an agent may hold beyond its slots. Bounds what one registration can make the dispatcher
     * hand out ahead: enough to hide a round trip behind every slot of the largest agent.
     */
    public static final int MAX_PREFETCH = 256;

    /** Prefetch may be at most this many times the agent's slots. */
    public static final int MAX_PREFETCH_PER_SLOT = 4;

    /**
     * Output of one stream up to this many bytes travels in the FINISHED report only; past it (or once the task has
     * run for {@link #STARTED_REPORT_DELAY_MILLIS}) the agent streams it live as well, so that a follower sees it.
     */
    public static final int INLINE_OUTPUT_BYTES = 64 * 1024;

    /**
     * A process still running this long after its start is reported STARTED; a shorter one is reported only FINISHED,
     * with how long it ran. Most commands end well within it, and one report per task instead of two is most of what a
     * short task costs on both sides.
     */
    public static final int STARTED_REPORT_DELAY_MILLIS = 100;

    /** The most attempts a Hello may name as still held (running, prefetched, or with a result not yet taken). */
    public static final int MAX_HELD = 1024;

    /**
     * An agent puts no more than this many bytes of reports in one message (a single larger report goes alone): the
     * master reads messages of at most twice its output cap plus 1 MiB, which a report's output fits in.
     */
    public static final int REPORTS_BYTES_PER_MESSAGE = 1024 * 1024;

    /** The most reports one Reports message may carry; an agent sends more in several. */
    public static final int MAX_REPORTS_PER_MESSAGE = 256;

    private Protocol() {
    }

    /** Whether {@code prefetch} is allowed for an agent of {@code slots} slots. */
    public static boolean isPrefetch(int prefetch, int slots) {
        return prefetch >= 0 && prefetch <= MAX_PREFETCH && prefetch <= (long) slots * MAX_PREFETCH_PER_SLOT;
    }
}
