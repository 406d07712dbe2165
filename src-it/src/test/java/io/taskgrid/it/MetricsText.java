package io.taskgrid.it;

import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A scrape of {@code /metrics}, parsed the way Prometheus reads text format 0.0.4, strictly: a line that is neither a
 * comment nor a well-formed sample, or a sample of a family without {@code # TYPE}, fails the parse.
 */
final class MetricsText {

    private static final Pattern SAMPLE = Pattern.compile(
            "([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(?:[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\\\\n]|\\\\[\\\\\"n])*\",?)*})? "
                    + "(-?[0-9.eE+-]+|\\+Inf|-Inf|NaN)");
    private static final Pattern TYPE = Pattern.compile("# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) "
            + "(counter|gauge|histogram|summary|untyped)");

    private final Map<String, Double> samples = new LinkedHashMap<>();

    private MetricsText() {
    }

    static MetricsText parse(String text) {
        MetricsText parsed = new MetricsText();
        Set<String> typed = new HashSet<>();
        for (String line : text.split("\n")) {
            if (line.startsWith("# HELP ")) {
                continue;
            }
            Matcher type = TYPE.matcher(line);
            if (type.matches()) {
                if (!typed.add(type.group(1))) {
                    throw new AssertionError("family declared twice: " + line);
                }
                continue;
            }
            Matcher sample = SAMPLE.matcher(line);
            if (!sample.matches()) {
                throw new AssertionError("not a line of text format 0.0.4: '" + line + "'");
            }
            String name = sample.group(1);
            String family = name.replaceAll("_(bucket|sum|count)$", "");
            if (!typed.contains(name) && !typed.contains(family)) {
                throw new AssertionError("sample without # TYPE: " + line);
            }
            String key = name + (sample.group(2) == null ? "" : sample.group(2));
            if (parsed.samples.put(key, Double.parseDouble(sample.group(3).replace("+Inf", "Infinity"))) != null) {
                throw new AssertionError("sample twice: " + key);
            }
        }
        return parsed;
    }

    /** The value of a series, e.g. {@code taskgrid_tasks_finished_total{state="SUCCEEDED"}}; fails if absent. */
    double get(String series) {
        Double value = samples.get(series);
        if (value == null) {
            throw new AssertionError("no series " + series + " in the scrape; it has " + samples.keySet());
        }
        return value;
    }

    long count(String series) {
        return Math.round(get(series));
    }

    Map<String, Double> samples() {
        return samples;
    }
}
