package io.taskgrid.agent;

import io.taskgrid.proto.v1.Outcome;

/** How one run of a command ended, as the agent reports it. */
record CommandResult(Outcome outcome, int exitCode, byte[] stdout, boolean stdoutTruncated, byte[] stderr,
                     boolean stderrTruncated, String reason) {

    static CommandResult notStarted(String reason) {
        return new CommandResult(Outcome.FAILED_TO_START, -1, new byte[0], false, new byte[0], false, reason);
    }
}
