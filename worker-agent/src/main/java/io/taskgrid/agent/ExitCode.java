package io.taskgrid.agent;

/**
 * How the agent ends. None of the failures below goes away by starting the agent again, so each has a code of its own:
 * a supervisor (systemd's {@code RestartPreventExitStatus=}, a container runtime's restart policy) can stop restarting
 * an agent that cannot work, and an operator sees the cause without reading the log.
 */
enum ExitCode {

    STOPPED(0, "stopped by SIGTERM or SIGINT: tasks finished, or killed and reported (or --help)"),
    /** Never chosen by the agent: the JVM's code for an error nothing caught. Listed so that the list is complete. */
    UNEXPECTED(1, "an unexpected error: the JVM's own code, with a stack trace on stderr"),
    USAGE(2, "a bad command line: an unknown or malformed flag, or a value that cannot be used"),
    STATE_DIRECTORY(3, "the state directory cannot be used (not made, not this user's, in use, another worker's)"),
    JOIN_TOKEN_REFUSED(4, "the master refused the join token; tasks got --shutdown-grace, results stay in the state "
            + "dir"),
    PROTOCOL_MISMATCH(5, "the master speaks another protocol version (upgrade both together); results stay in the "
            + "state dir");

    private final int value;
    private final String meaning;

    ExitCode(int value, String meaning) {
        this.value = value;
        this.meaning = meaning;
    }

    int value() {
        return value;
    }

    String meaning() {
        return meaning;
    }
}
