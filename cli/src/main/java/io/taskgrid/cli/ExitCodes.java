package io.taskgrid.cli;

import java.util.Set;

/**
 * What {@code taskgrid} exits with. A task that ran to an exit gives its own code (0 to 255); the others are chosen
 * after the shell's and {@code timeout(1)}'s, so that scripts tell a command's failure from the grid's. Listed in
 * {@code taskgrid --help}.
 */
final class ExitCodes {

    /** Bad options or arguments (picocli's own). */
    static final int USAGE = 2;
    /** The master refused the request (400, 404, 409, 413, ...): its reason is printed. */
    static final int REFUSED = 65;
    /** The master could not be reached. */
    static final int UNREACHABLE = 69;
    /** The master is busy or failing (429, 5xx): try again. */
    static final int BUSY = 75;
    /** The token is missing, wrong, or lacks the role (401, 403). */
    static final int NOT_ALLOWED = 77;
    /** The task ran longer than its timeout and was stopped. */
    static final int TIMED_OUT = 124;
    /** The task was lost: its agent went away and no attempt was left. */
    static final int LOST = 125;
    /** The task failed without an exit code: its command could not be started. */
    static final int FAILED_TO_START = 126;
    /** The task was cancelled. */
    static final int CANCELLED = 130;
    /** Ctrl-C left the task running: the command stopped following it (128 + SIGQUIT's number, unused by shells' Ctrl-C). */
    static final int DETACHED = 131;

    static final String HELP = "Exit status: a task's own exit code when it ran to an exit; otherwise%n"
            + "  " + TIMED_OUT + "  the task timed out          " + LOST + "  the task was lost%n"
            + "  " + FAILED_TO_START + "  it failed without an exit code (could not start)%n"
            + "  " + CANCELLED + "  the task was cancelled      " + DETACHED + "  left running (Ctrl-C)%n"
            + "  " + USAGE + "    bad options or arguments%n"
            + "  " + REFUSED + "   the master refused (its reason is printed)%n"
            + "  " + UNREACHABLE + "   the master cannot be reached%n"
            + "  " + BUSY + "   the master is busy or failing, try again%n"
            + "  " + NOT_ALLOWED + "   no token, a wrong one, or not the role for this";

    static final Set<String> FINAL_STATES = Set.of("SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED", "LOST");

    private ExitCodes() {
    }

    /** What a task that ended in {@code state}, with {@code exitCode} (null if none), makes the command exit with. */
    static int ofTask(String state, Integer exitCode) {
        return switch (state) {
            case "TIMED_OUT" -> TIMED_OUT;
            case "LOST" -> LOST;
            case "CANCELLED" -> CANCELLED;
            // A FAILED task with exit code 0 (its result could not be stored) is a failure all the same.
            default -> exitCode != null && !(state.equals("FAILED") && exitCode == 0) ? exitCode & 0xff
                    : state.equals("SUCCEEDED") ? 0 : FAILED_TO_START;
        };
    }

    /** A one-line reason for a task that did not end with an exit code of its own; null when it did. */
    static String reason(String id, String state, Integer exitCode, String why) {
        if (exitCode != null && exitCode != 0 && !state.equals("TIMED_OUT") && !state.equals("CANCELLED")
                && !state.equals("LOST")) {
            return null;
        }
        if (state.equals("SUCCEEDED")) {
            return null;
        }
        String what = switch (state) {
            case "TIMED_OUT" -> "timed out";
            case "LOST" -> "was lost";
            case "CANCELLED" -> "was cancelled";
            default -> "failed without an exit code";
        };
        return "taskgrid: task " + id + " " + what + (why == null || why.isBlank() ? "" : ": " + why);
    }
}
