package io.taskgrid.master.config;

import io.taskgrid.master.text.SafeText;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * Reads every setting from a {@link SettingSource} and judges it: each value against its {@link Setting}'s rule (all
 * problems at once, so that an operator fixes them in one go), and each name under {@code taskgrid.} /
 * {@code TASKGRID_} against the catalog. A name that is no setting is a warning rather than an error, because a
 * stray variable in a shared environment should not stop a master; the warning names the closest setting, which is
 * usually what was meant ({@code TASKGRID_LOST_AFTER} for {@code TASKGRID_LOST_AFTER_SECONDS}).
 */
final class SettingsCheck {

    private static final Pattern OURS = Pattern.compile("(?i)taskgrid[._].*");
    /** Names under TASKGRID_ that belong to Taskgrid's other programs: not the master's, and no typo either. */
    static final Set<String> OTHER_PROGRAMS = Set.of("TASKGRID_JOIN_TOKEN", "TASKGRID_AGENT_JAVA_OPTS");
    private static final int MAX_VALUE_ECHO = 80;

    private final Map<Setting, Object> values;
    private final List<String> warnings;

    private SettingsCheck(Map<Setting, Object> values, List<String> warnings) {
        this.values = values;
        this.warnings = warnings;
    }

    Map<Setting, Object> values() {
        return values;
    }

    List<String> warnings() {
        return warnings;
    }

    /** @throws InvalidSettings when any value breaks its rule; its message lists them all */
    static SettingsCheck of(SettingSource source) {
        Map<Setting, Object> values = new EnumMap<>(Setting.class);
        List<String> problems = new ArrayList<>();
        List<String> warnings = new ArrayList<>();
        for (Setting setting : Setting.readByApplicationOnly()) {
            Optional<String> raw = source.value(setting.key());
            String from = setting.key();
            if (raw.isEmpty() && setting.deprecatedKey().isPresent()) {
                raw = source.value(setting.deprecatedKey().get());
                if (raw.isPresent()) {
                    from = setting.deprecatedKey().get();
                    warnings.add(from + " is a deprecated name here: use " + setting.key() + " ("
                            + setting.environmentVariable() + "). Taskgrid reads only the issuer, audiences and key "
                            + "location of MicroProfile JWT, under its own names");
                }
            }
            if (raw.isEmpty()) {
                if (setting.optional()) {
                    values.put(setting, Optional.empty());
                } else {
                    problems.add(setting.key() + " (" + setting.environmentVariable() + ") has no value and no default");
                }
                continue;
            }
            try {
                values.put(setting, setting.parse(raw.get()));
            } catch (IllegalArgumentException e) {
                String origin = source.origin(from);
                problems.add(from + (from.equals(setting.key()) ? " (" + setting.environmentVariable() + ")" : "")
                        + " is " + shown(raw.get()) + ": " + e.getMessage()
                        + (origin.isEmpty() ? "" : " (set in " + origin(origin) + ")"));
            }
        }
        if (!problems.isEmpty()) {
            throw new InvalidSettings(problems);
        }
        warnings.addAll(unknownNames(source.names()));
        return new SettingsCheck(values, List.copyOf(warnings));
    }

    /**
     * A bad value as a message may repeat it: one line, cut short, and never a key or certificate that was pasted
     * where its path belongs (a message goes to the log, and a launcher prints it).
     */
    static String shown(String value) {
        if (value.contains("-----BEGIN") || value.contains("PRIVATE KEY")) {
            return "a PEM block (not shown)";
        }
        if (value.indexOf('\n') >= 0 || value.indexOf('\r') >= 0) {
            return "a value of several lines (not shown)";
        }
        return "'" + SafeText.oneLine(value, MAX_VALUE_ECHO) + "'";
    }

    /**
     * A warning for each name under taskgrid. / TASKGRID_ that is no setting, with the closest one. A server may list
     * one environment variable under several spellings (as set, and as a property it derives from it): the warning
     * names it once, as an environment variable when it was one, so that the operator finds the name they wrote.
     */
    static List<String> unknownNames(Iterable<String> names) {
        Set<String> known = new TreeSet<>();
        Set<String> knownVariables = new TreeSet<>();
        for (Setting setting : Setting.values()) {
            known.add(setting.key());
            knownVariables.add(setting.environmentVariable());
        }
        Map<String, String> spellings = new TreeMap<>();
        for (String name : names) {
            String asVariable = Setting.environmentVariable(name);
            if (!OURS.matcher(name).matches() || known.contains(name) || knownVariables.contains(asVariable)
                    || OTHER_PROGRAMS.contains(asVariable)) {
                continue;
            }
            spellings.merge(asVariable, name, SettingsCheck::asWritten);
        }
        List<String> warnings = new ArrayList<>();
        spellings.forEach((asVariable, name) -> {
            boolean variableStyle = !name.contains(".");
            String closest = closest(name, known);
            String suggestion = variableStyle ? Setting.environmentVariable(closest) : closest;
            warnings.add("unknown setting " + SafeText.oneLine(name, MAX_VALUE_ECHO)
                    + " is ignored; did you mean " + suggestion + "?");
        });
        return warnings;
    }

    /** Of two spellings of one name, the environment variable's (upper case, underscores), else the first in order. */
    private static String asWritten(String one, String other) {
        boolean oneIsVariable = one.matches("[A-Z0-9_]+");
        boolean otherIsVariable = other.matches("[A-Z0-9_]+");
        if (oneIsVariable != otherIsVariable) {
            return oneIsVariable ? one : other;
        }
        return one.compareTo(other) <= 0 ? one : other;
    }

    /** Where a value came from, in words: config sources have class names ("EnvConfigSource"), operators do not. */
    static String origin(String source) {
        String lower = source.toLowerCase(Locale.ROOT);
        if (lower.contains("env")) {
            return "an environment variable";
        }
        if (lower.contains("sysprop") || lower.contains("system")) {
            return "a system property";
        }
        if (lower.contains("microprofile-config.properties")) {
            return "the application's defaults";
        }
        if (lower.contains("server.xml") || lower.contains("variable")) {
            return "a server.xml or bootstrap.properties variable (" + SafeText.oneLine(source, MAX_VALUE_ECHO) + ")";
        }
        return SafeText.oneLine(source, MAX_VALUE_ECHO);
    }

    /** The known key nearest to {@code name}: one it begins, else the fewest edits, compared as lower-case keys. */
    static String closest(String name, Set<String> known) {
        String wanted = name.substring(0, Math.min(name.length(), 100)).toLowerCase(Locale.ROOT).replace('_', '.');
        Comparator<String> nearest = Comparator.<String>comparingInt(key -> key.startsWith(wanted + ".") ? 0 : 1)
                .thenComparingInt(key -> edits(wanted, key.toLowerCase(Locale.ROOT).replace('_', '.')))
                .thenComparing(Comparator.naturalOrder());
        return known.stream().min(nearest).orElseThrow();
    }

    /** Levenshtein distance; names are short, so the plain two-row table is enough. */
    static int edits(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int substitution = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                current[j] = Math.min(substitution, Math.min(previous[j], current[j - 1]) + 1);
            }
            int[] swap = previous;
            previous = current;
            current = swap;
        }
        return previous[b.length()];
    }
}
