package io.taskgrid.master.api;

import io.taskgrid.master.config.TaskgridConfig;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.StreamingOutput;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.logging.Logger;

/**
 * A bulkhead for the reads that load a task's output (up to two streams of {@code taskgrid.output.limit.bytes} each,
 * held twice over while they become JSON). Without it the heap a burst of such reads takes grows with the number of
 * callers; with it, with the number of permits. A read that cannot get a permit soon answers 503 with Retry-After.
 *
 * <p>A permit is held until the answer is written, not only while it is made: the answer's bytes live as long as a
 * client takes to read them, and a client that reads slowly, or not at all, would otherwise keep megabytes and a
 * request thread after its permit went back, as many times over as it opened connections. Writing has a deadline
 * : an answer that is not read by then is cut off and its connection closed, and a permit whose
 * answer was never written at all (the server dropped it) is taken back at that deadline too, so no client can keep a
 * permit for longer. The deadline is {@code taskgrid.api.write.timeout.seconds}; a single write that blocks is bounded
 * by the server's write timeout, which server.xml sets from the same setting.
 */
@ApplicationScoped
public class HeavyReads {

    private static final Logger LOG = Logger.getLogger(HeavyReads.class.getName());
    private static final long WAIT_MILLIS = 5000;
    /** How long one answer may take to be written by default ({@code taskgrid.api.write.timeout.seconds}). */
    static final long WRITE_MILLIS = 60_000;
    /** Bytes written at once, the deadline looked at between them. */
    static final int SLICE = 64 * 1024;

    private final int max;
    private final long holdNanos;
    /** Permits held, oldest first; guarded by this. */
    private final Set<Lease> held = new LinkedHashSet<>();

    @Inject
    public HeavyReads(TaskgridConfig config) {
        this(config.maxConcurrentOutputReads(), TimeUnit.SECONDS.toMillis(config.apiWriteTimeoutSeconds()));
        writeMillis = TimeUnit.SECONDS.toMillis(config.apiWriteTimeoutSeconds());
    }

    /** The deadline of every answer written through here, {@link #bounded} included (one master, one setting). */
    private static volatile long writeMillis = WRITE_MILLIS;

    HeavyReads(int maxConcurrent) {
        this(maxConcurrent, WRITE_MILLIS);
    }

    HeavyReads(int maxConcurrent, long holdMillis) {
        this.max = Math.max(1, maxConcurrent);
        this.holdNanos = TimeUnit.MILLISECONDS.toNanos(holdMillis);
    }

    /** For the CDI proxy only. */
    protected HeavyReads() {
        this.max = 0;
        this.holdNanos = 0;
    }

    /** One permit, until {@link #close()} or its deadline. */
    final class Lease implements AutoCloseable {
        final long deadline = System.nanoTime() + holdNanos;

        boolean expired() {
            return System.nanoTime() - deadline > 0;
        }

        @Override
        public void close() {
            synchronized (HeavyReads.this) {
                if (held.remove(this)) {
                    HeavyReads.this.notifyAll();
                }
            }
        }
    }

    /** Permits held now (for tests and metrics). */
    synchronized int inUse() {
        return held.size();
    }

    Lease acquire() {
        long waitUntil = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WAIT_MILLIS);
        synchronized (this) {
            while (true) {
                reclaimExpired();
                if (held.size() < max) {
                    Lease lease = new Lease();
                    held.add(lease);
                    return lease;
                }
                long left = waitUntil - System.nanoTime();
                if (left <= 0) {
                    throw ApiProblem.busy("too many reads of task output are under way on this master; try again "
                            + "shortly", 1);
                }
                try {
                    // Wake at the oldest permit's deadline at the latest: it may be taken back then.
                    long untilOldest = held.iterator().next().deadline - System.nanoTime();
                    TimeUnit.NANOSECONDS.timedWait(this, Math.max(1, Math.min(left, untilOldest)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw ApiProblem.busy("the read was interrupted; try again", 1);
                }
            }
        }
    }

    private void reclaimExpired() {
        int before = held.size();
        held.removeIf(Lease::expired);
        if (held.size() < before) {
            int taken = before - held.size();
            LOG.warning(() -> taken + " read(s) of task output were not written within "
                    + TimeUnit.NANOSECONDS.toSeconds(holdNanos) + " s; their permits are taken back");
        }
    }

    /** A read that makes something small from a large one: the permit is held while it runs. */
    public <T> T call(Supplier<T> read) {
        try (Lease lease = acquire()) {
            return read.get();
        }
    }

    /**
     * A read whose answer is large: {@code read} makes the response, with a {@code String} or {@code byte[]} entity,
     * and the permit is held until that entity is written, within the deadline.
     */
    public Response answer(Supplier<Response> read) {
        Lease lease = acquire();
        try {
            Response response = read.get();
            Object entity = response.getEntity();
            byte[] bytes = entity instanceof byte[] b ? b
                    : entity instanceof String s ? s.getBytes(StandardCharsets.UTF_8) : null;
            if (bytes == null) {
                lease.close();
                return response;
            }
            return Response.fromResponse(response).entity(body(bytes, lease)).build();
        } catch (RuntimeException | Error e) {
            lease.close();
            throw e;
        }
    }

    /** {@code read}'s bytes as a body that holds a permit until written, within the deadline. */
    StreamingOutput leased(Supplier<byte[]> read) {
        Lease lease = acquire();
        try {
            return body(read.get(), lease);
        } catch (RuntimeException | Error e) {
            lease.close();
            throw e;
        }
    }

    private static StreamingOutput body(byte[] bytes, Lease lease) {
        return out -> {
            try {
                write(bytes, out, lease.deadline);
            } finally {
                lease.close();
            }
        };
    }

    /**
     * An answer with a deadline but no permit (a page of the task list: a few megabytes at most): a client that does
     * not read it within {@code taskgrid.api.write.timeout.seconds} is cut off.
     */
    public static StreamingOutput bounded(byte[] bytes) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(writeMillis);
        return out -> write(bytes, out, deadline);
    }

    /**
     * Writes {@code bytes} a slice at a time, giving up once {@code deadline} has passed. A single write that blocks
     * is bounded by the server's own write timeout ({@code writeTimeout} in server.xml).
     */
    static void write(byte[] bytes, OutputStream out, long deadline) throws IOException {
        for (int at = 0; at < bytes.length; at += SLICE) {
            if (System.nanoTime() - deadline > 0) {
                throw new IOException("the client did not read the answer in time ("
                        + "taskgrid.api.write.timeout.seconds); the connection is closed");
            }
            out.write(bytes, at, Math.min(SLICE, bytes.length - at));
            out.flush();
        }
    }
}
