package io.taskgrid.master.metrics;

import java.util.Arrays;
import java.util.concurrent.atomic.LongAdder;

/**
 * A distribution of durations in fixed buckets, as Prometheus histograms are: a quantile is computed where the data
 * from every master meets (the server), not here. Observations are milliseconds, stored per bucket (not cumulative)
 * in {@link LongAdder}s, so an observation is one binary search and one add with no lock; the cumulative counts and
 * the seconds Prometheus wants are made only when a scrape asks.
 */
public final class Histogram {

    private final long[] upperBoundsMillis;
    /** One more than the bounds: the last is +Inf. */
    private final LongAdder[] buckets;
    private final LongAdder sumMillis = new LongAdder();

    /** @param upperBoundsMillis the buckets' upper bounds, ascending */
    public Histogram(long... upperBoundsMillis) {
        for (int i = 1; i < upperBoundsMillis.length; i++) {
            if (upperBoundsMillis[i] <= upperBoundsMillis[i - 1]) {
                throw new IllegalArgumentException("bucket bounds must ascend");
            }
        }
        this.upperBoundsMillis = upperBoundsMillis.clone();
        this.buckets = new LongAdder[upperBoundsMillis.length + 1];
        for (int i = 0; i < buckets.length; i++) {
            buckets[i] = new LongAdder();
        }
    }

    /** A negative duration (clocks of two machines, or a clock set back) counts as zero rather than being lost. */
    public void observeMillis(long millis) {
        long value = Math.max(0, millis);
        int index = Arrays.binarySearch(upperBoundsMillis, value);
        if (index < 0) {
            index = -index - 1;
        }
        buckets[index].increment();
        sumMillis.add(value);
    }

    /** The buckets as a scrape shows them: cumulative counts, the last one (+Inf) being the total. */
    public Snapshot snapshot() {
        long[] cumulative = new long[buckets.length];
        long running = 0;
        for (int i = 0; i < buckets.length; i++) {
            running += buckets[i].sum();
            cumulative[i] = running;
        }
        return new Snapshot(upperBoundsMillis.clone(), cumulative, sumMillis.sum());
    }

    /**
     * One consistent reading: the count is the last cumulative bucket, so {@code _count} always equals the
     * {@code +Inf} bucket, as Prometheus requires, even while observations arrive during the scrape.
     */
    public record Snapshot(long[] upperBoundsMillis, long[] cumulative, long sumMillis) {
        public long count() {
            return cumulative[cumulative.length - 1];
        }
    }
}
