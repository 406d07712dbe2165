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
        System.err.println(Instant.now() + " " + level + " [taskgrid-agent] " + message);
    }
}
