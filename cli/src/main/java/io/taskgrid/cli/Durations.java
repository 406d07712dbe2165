package io.taskgrid.cli;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Durations as people write them: {@code 90} (seconds), {@code 90s}, {@code 10m}, {@code 1h30m}, {@code 2d}. */
final class Durations {

    private static final Pattern PART = Pattern.compile("(\\d{1,9})([smhd])");
    /** The most the master takes as a task's timeout (a year), so a typo is refused here with a clear message. */
    static final long MAX_SECONDS = 366L * 24 * 3600;

    private Durations() {
    }

    static long seconds(String text) {
        String trimmed = text == null ? "" : text.trim().toLowerCase(java.util.Locale.ROOT);
        if (trimmed.matches("\\d{1,9}")) {
            return checked(Long.parseLong(trimmed), text);
        }
        Matcher parts = PART.matcher(trimmed);
        long total = 0;
        int at = 0;
        while (parts.find()) {
            if (parts.start() != at) {
                break;
            }
            long amount = Long.parseLong(parts.group(1));
            total += amount * switch (parts.group(2)) {
                case "s" -> 1L;
                case "m" -> 60L;
                case "h" -> 3600L;
                default -> 86400L;
            };
            at = parts.end();
            if (total > MAX_SECONDS) {
                break;
            }
        }
        if (at == 0 || at != trimmed.length()) {
            throw new IllegalArgumentException("'" + text + "' is not a duration (e.g. 90, 90s, 10m, 1h30m)");
        }
        return checked(total, text);
    }

    private static long checked(long seconds, String text) {
        if (seconds < 1 || seconds > MAX_SECONDS) {
            throw new IllegalArgumentException("'" + text + "' must be from 1 second to 366 days");
        }
        return seconds;
    }
}
