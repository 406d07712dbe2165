package io.taskgrid.agent;

import java.time.Instant;

/**
 * One line per event on stderr. Not java.util.logging: its LogManager resets its handlers when the JVM begins to shut
 * down, which is exactly when the agent has the most to say (what it drained, killed and reported).
 */
final class Log {

    private Log() {
    }

    static void info(String message) {
        print("INFO", message);
    }

    static void warn(String message) {
        print("WARN", message);
    }

    static void error(String message) {
        print("ERROR", message);
    }

    private static void print(String level, String message) {
        System.err.println(Instant.now() + " " + level + " [taskgrid-agent] " + oneLine(message));
    }

    /**
     * {@code message} with every control character (CR and LF first) shown as {@code ?}: messages quote what tasks
     * and the master sent (a working directory, a reason), and none of it may start a line that looks like the
     * agent's own.
     */
    static String oneLine(String message) {
        StringBuilder line = new StringBuilder(message.length());
        message.codePoints().forEach(c -> line.appendCodePoint(Character.isISOControl(c) ? '?' : c));
        return line.toString();
    }
}
