package io.taskgrid.master.metrics;

import java.util.Locale;
import java.util.Map;

/**
 * Writes Prometheus' text exposition format, version 0.0.4: a {@code # HELP} and {@code # TYPE} line per family, then
 * its samples. Written by hand rather than with a client library: the format is a few lines of rules, and the WAR
 * stays free of a dependency that every server it deploys on would have to tolerate.
 */
public final class PrometheusText {

    public static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    private final StringBuilder out = new StringBuilder(4096);

    public PrometheusText counter(String name, String help, long value) {
        header(name, help, "counter");
        sample(name, "", value);
        return this;
    }

    public PrometheusText counter(String name, String help, LabeledCounter counter) {
        header(name, help, "counter");
        for (Map.Entry<String, Long> entry : counter.snapshot().entrySet()) {
            sample(name, "{" + counter.label() + "=\"" + escape(entry.getKey()) + "\"}", entry.getValue());
        }
        return this;
    }

    public PrometheusText gauge(String name, String help, long value) {
        header(name, help, "gauge");
        sample(name, "", value);
        return this;
    }

    public PrometheusText gauge(String name, String help, double value) {
        header(name, help, "gauge");
        out.append(name).append(' ').append(number(value)).append('\n');
        return this;
    }

    /** A histogram in seconds, from one consistent snapshot. */
    public PrometheusText histogram(String name, String help, Histogram histogram) {
        Histogram.Snapshot s = histogram.snapshot();
        header(name, help, "histogram");
        for (int i = 0; i < s.upperBoundsMillis().length; i++) {
            sample(name + "_bucket", "{le=\"" + seconds(s.upperBoundsMillis()[i]) + "\"}", s.cumulative()[i]);
        }
        sample(name + "_bucket", "{le=\"+Inf\"}", s.count());
        out.append(name).append("_sum ").append(seconds(s.sumMillis())).append('\n');
        sample(name + "_count", "", s.count());
        return this;
    }

    @Override
    public String toString() {
        return out.toString();
    }

    private void header(String name, String help, String type) {
        out.append("# HELP ").append(name).append(' ').append(help.replace("\\", "\\\\").replace("\n", "\\n"))
                .append('\n');
        out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    private void sample(String name, String labels, long value) {
        out.append(name).append(labels).append(' ').append(value).append('\n');
    }

    /** Label values: backslash, double quote and line feed escaped, as the format says. */
    static String escape(String value) {
        return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }

    /** Milliseconds as seconds, without a float's rounding noise (0.001, not 0.0010000000000000002). */
    static String seconds(long millis) {
        return java.math.BigDecimal.valueOf(millis, 3).stripTrailingZeros().toPlainString();
    }

    private static String number(double value) {
        if (value == Math.rint(value) && !Double.isInfinite(value) && Math.abs(value) < 1e15) {
            return Long.toString((long) value);
        }
        return String.format(Locale.ROOT, "%s", value);
    }
}
