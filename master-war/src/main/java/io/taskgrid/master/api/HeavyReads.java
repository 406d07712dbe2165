package io.taskgrid.master.api;

import io.taskgrid.master.config.TaskgridConfig;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * A bulkhead for the reads that load a task's output (up to two streams of {@code taskgrid.output.limit.bytes} each,
 * held twice over while they become JSON). Without it the heap a burst of such reads takes grows with the number of
 * callers; with it, with the number of permits. A read that cannot get a permit soon answers 503 with Retry-After.
 */
@ApplicationScoped
public class HeavyReads {

    private static final long WAIT_MILLIS = 5000;

    private final Semaphore permits;

    @Inject
    public HeavyReads(TaskgridConfig config) {
        this(config.maxConcurrentOutputReads());
    }

    HeavyReads(int maxConcurrent) {
        this.permits = new Semaphore(Math.max(1, maxConcurrent), true);
    }

    /** For the CDI proxy only. */
    protected HeavyReads() {
        this.permits = null;
    }

    public <T> T call(Supplier<T> read) {
        boolean acquired;
        try {
            acquired = permits.tryAcquire(WAIT_MILLIS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            acquired = false;
        }
        if (!acquired) {
            throw ApiProblem.busy("too many reads of task output are under way on this master; try again shortly", 1);
        }
        try {
            return read.get();
        } finally {
            permits.release();
        }
    }
}
