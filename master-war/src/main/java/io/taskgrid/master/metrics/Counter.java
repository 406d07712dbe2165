package io.taskgrid.master.metrics;

import java.util.concurrent.atomic.LongAdder;

/**
 * A count that only goes up. A {@link LongAdder}: the hot paths that count (every submission, every report) add to a
 * cell of their own thread instead of fighting over one atomic word; only a scrape sums the cells.
 */
public final class Counter {

    private final LongAdder count = new LongAdder();

    public void inc() {
        count.increment();
    }

    public void add(long n) {
        if (n > 0) {
            count.add(n);
        }
    }

    public long get() {
        return count.sum();
    }
}
