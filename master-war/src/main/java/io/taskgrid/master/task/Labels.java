package io.taskgrid.master.task;

import io.taskgrid.proto.WorkerLimits;

import java.util.Collections;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * A set of {@code key=value} labels: what a worker offers ({@code --label os=linux}) or what a task requires of the
 * worker it runs on ({@code "requires": {"os": "linux"}}). A task goes only to a worker that carries every label it
 * requires, with the same value.
 *
 * <p>Keys and values share one narrow character set, so that the canonical form ({@code arch=amd64,os=linux}, keys
 * sorted) can be stored in one column, compared as a string and echoed into messages and logs without escaping. The
 * limits bound what a submitter or an agent can make the dispatcher compare. They are the agent's too
 * ({@link WorkerLimits}): an agent whose {@code --label} passed its own check must not be refused here.
 */
public final class Labels {

    /** At most this many labels on one task or worker. */
    public static final int MAX_LABELS = WorkerLimits.MAX_LABELS;
    /** Keys and values: 1 to this many characters. */
    public static final int MAX_LENGTH = WorkerLimits.MAX_LABEL_LENGTH;
    /** What a key or a value may hold: a letter or digit first, then letters, digits, '.', '_' and '-'. */
    public static final String CHARACTERS = WorkerLimits.LABEL_CHARACTERS;
    /** The canonical form's longest length, for the column that holds it. */
    public static final int MAX_CANONICAL_LENGTH = MAX_LABELS * (2 * MAX_LENGTH + 2);

    private static final Pattern WORD = Pattern.compile(CHARACTERS);

    public static final Labels NONE = new Labels(new TreeMap<>());

    private final SortedMap<String, String> labels;
    private final String canonical;

    private Labels(SortedMap<String, String> labels) {
        this.labels = Collections.unmodifiableSortedMap(labels);
        StringBuilder text = new StringBuilder();
        labels.forEach((key, value) -> {
            if (!text.isEmpty()) {
                text.append(',');
            }
            text.append(key).append('=').append(value);
        });
        this.canonical = text.toString();
    }

    /**
     * Checks every key and value.
     *
     * @throws IllegalArgumentException saying which label is wrong and why, in words fit for an API answer
     */
    public static Labels of(Map<String, String> labels) {
        if (labels == null || labels.isEmpty()) {
            return NONE;
        }
        if (labels.size() > MAX_LABELS) {
            throw new IllegalArgumentException(labels.size() + " labels; at most " + MAX_LABELS + " are allowed");
        }
        TreeMap<String, String> checked = new TreeMap<>();
        labels.forEach((key, value) -> {
            check("label key", key);
            check("value of label '" + key + "'", value);
            checked.put(key, value);
        });
        return new Labels(checked);
    }

    /** Reads the canonical form back (from the database); empty or null is no labels. */
    public static Labels parse(String canonical) {
        if (canonical == null || canonical.isEmpty()) {
            return NONE;
        }
        TreeMap<String, String> read = new TreeMap<>();
        for (String pair : canonical.split(",", -1)) {
            int equals = pair.indexOf('=');
            if (equals < 0) {
                throw new IllegalArgumentException("not a label: '" + pair + "'");
            }
            read.put(pair.substring(0, equals), pair.substring(equals + 1));
        }
        return of(read);
    }

    private static void check(String what, String text) {
        if (text == null || text.isEmpty()) {
            throw new IllegalArgumentException("a " + what + " is empty; give 1 to " + MAX_LENGTH + " characters");
        }
        if (text.length() > MAX_LENGTH) {
            throw new IllegalArgumentException("a " + what + " is " + text.length() + " characters long; at most "
                    + MAX_LENGTH + " are allowed");
        }
        if (!WORD.matcher(text).matches()) {
            throw new IllegalArgumentException("the " + what + " may hold only letters, digits, '.', '_' and '-', "
                    + "starting with a letter or digit");
        }
    }

    /** Whether a worker carrying {@code offered} may run a task requiring these. */
    public boolean satisfiedBy(Labels offered) {
        return missingFrom(offered).isEmpty();
    }

    /** The first label of these that {@code offered} lacks (or has with another value), as {@code key=value}. */
    public Optional<String> missingFrom(Labels offered) {
        for (Map.Entry<String, String> label : labels.entrySet()) {
            if (!label.getValue().equals(offered.labels.get(label.getKey()))) {
                return Optional.of(label.getKey() + "=" + label.getValue());
            }
        }
        return Optional.empty();
    }

    public boolean isEmpty() {
        return labels.isEmpty();
    }

    public Map<String, String> asMap() {
        return labels;
    }

    /** {@code key=value} pairs, keys sorted, comma-separated; empty for none. */
    public String canonical() {
        return canonical;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof Labels that && canonical.equals(that.canonical);
    }

    @Override
    public int hashCode() {
        return canonical.hashCode();
    }

    @Override
    public String toString() {
        return canonical;
    }
}
