package io.taskgrid.proto;

import java.util.regex.Pattern;

/**
 * What a worker may call itself and offer, in the one module both sides share. The agent checks its flags by these
 * rules so that a bad value fails at its start, in words about the flag; the master checks every registration by the
 * same rules because it cannot trust an agent. Two copies could drift apart, and then an agent would start cleanly
 * and be refused by the master on every reconnect, or the master would accept what no agent can send.
 */
public final class WorkerLimits {

    /** The longest worker id; the master stores it in columns of this width. */
    public static final int MAX_WORKER_ID_LENGTH = 64;
    /**
     * A worker id: letters, digits, '.', '_' and '-', but not "." or "..". Narrow so that an id can name a directory, a
     * log field and a metric label without escaping; and since it names the agent's default state directory, it must
     * not name this directory or the one above it.
     */
    public static final Pattern WORKER_ID = Pattern.compile("(?!\\.{1,2}$)[A-Za-z0-9._-]{1," + MAX_WORKER_ID_LENGTH + "}");
    /** The most tasks one worker may run at once; bounds what one registration can make the dispatcher hold. */
    public static final int MAX_SLOTS = 256;
    /** At most this many labels on one worker (and on one task's requirement). */
    public static final int MAX_LABELS = 16;
    /** Label keys and values: 1 to this many characters. */
    public static final int MAX_LABEL_LENGTH = 63;
    /**
     * The characters of a label key or value, whatever its length: a letter or digit first, then letters, digits,
     * '.', '_' and '-'. The master's canonical form ({@code key=value,key=value}) relies on '=' and ',' never
     * occurring.
     */
    public static final String LABEL_CHARACTERS = "[A-Za-z0-9][A-Za-z0-9._-]*";

    // What one connection (one agent's channel) may have at once. A real agent stays far below each: one AssignTask
    // stream, one StreamOutput call, and its reports, one per slot at worst. The master holds a client with a join
    // token to these, so that no connection can take what the other agents need (see also the master's settings
    // taskgrid.grpc.token.max.* and taskgrid.workers.max, which bound the connections of a join token together).

    /**
     * Calls open at once on one connection (HTTP/2 MAX_CONCURRENT_STREAMS): a client opening more waits for one to end,
     * as gRPC clients do. 64 leaves an agent its two streams and 62 reports in flight; a 256-slot agent whose tasks all
     * end at once sends the rest of its reports a few milliseconds later.
     */
    public static final int MAX_CALLS_PER_CONNECTION = 64;
    /**
     * Workers registered at once over one connection: an agent registers one worker per channel, and registers again
     * only once its stream has ended. More is a client making up workers; it is refused RESOURCE_EXHAUSTED.
     */
    public static final int MAX_WORKERS_PER_CONNECTION = 1;
    /**
     * StreamOutput calls open at once on one connection: an agent keeps one, and opens another after the first failed;
     * two leave room for the moment both are open. More are refused RESOURCE_EXHAUSTED.
     */
    public static final int MAX_OUTPUT_CALLS_PER_CONNECTION = 2;
    /**
     * Bytes of output taken from one connection and not yet written: 16 chunks of 64 KiB, four times what one
     * StreamOutput call may have in hand. A final report whose output is larger is taken when nothing else of the
     * connection waits; past this, chunks wait (gRPC flow control) and a report is answered RESOURCE_EXHAUSTED and sent
     * again later.
     */
    public static final long MAX_QUEUED_BYTES_PER_CONNECTION = 1024 * 1024;

    private static final Pattern LABEL_WORD = Pattern.compile(LABEL_CHARACTERS);

    private WorkerLimits() {
    }

    /** Whether {@code id} may name a worker. */
    public static boolean isWorkerId(String id) {
        return id != null && WORKER_ID.matcher(id).matches();
    }

    /** Whether {@code word} may be a label's key or value. */
    public static boolean isLabelWord(String word) {
        return word != null && !word.isEmpty() && word.length() <= MAX_LABEL_LENGTH
                && LABEL_WORD.matcher(word).matches();
    }
}
