package io.taskgrid.master.metrics;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters told apart by the value of one label (a final state, an HTTP status, a reason). The expected values exist
 * from the start, at zero, so that a rate over them is defined before the first event. Values come from code, never
 * from a client, but the number of series is capped anyway: past {@link #MAX_VALUES} distinct values further ones are
 * counted as {@code other}, so no input can grow the scrape without bound.
 */
public final class LabeledCounter {

    static final int MAX_VALUES = 64;
    static final String OTHER = "other";

    private final String label;
    private final Map<String, LongAdder> counts = new ConcurrentSkipListMap<>();

    public LabeledCounter(String label, String... expected) {
        this.label = label;
        for (String value : expected) {
            counts.put(value, new LongAdder());
        }
    }

    public String label() {
        return label;
    }

    public void inc(String value) {
        LongAdder adder = counts.get(value);
        if (adder == null) {
            String key = counts.size() < MAX_VALUES ? value : OTHER;
            adder = counts.computeIfAbsent(key, k -> new LongAdder());
        }
        adder.increment();
    }

    public long get(String value) {
        LongAdder adder = counts.get(value);
        return adder == null ? 0 : adder.sum();
    }

    /** Every value seen or expected, in order, with its count. */
    public Map<String, Long> snapshot() {
        Map<String, Long> copy = new LinkedHashMap<>();
        counts.forEach((value, adder) -> copy.put(value, adder.sum()));
        return copy;
    }
}
