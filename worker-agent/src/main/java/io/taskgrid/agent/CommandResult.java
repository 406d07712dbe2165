package io.taskgrid.agent;

import io.taskgrid.proto.v1.Outcome;

/**
 * How one run of a command ended, as the agent reports it. {@code stdout}/{@code stderr} are what was kept (head, marker
 * and tail when the middle was dropped); the totals are how many bytes each stream printed in all, -1 when no process
 * ran.
 */
record CommandResult(Outcome outcome, int exitCode, byte[] stdout, boolean stdoutTruncated, byte[] stderr,
                     boolean stderrTruncated, String reason, long stdoutTotal, long stderrTotal) {

    static CommandResult notStarted(String reason) {
        return new CommandResult(Outcome.FAILED_TO_START, -1, new byte[0], false, new byte[0], false, reason, -1, -1);
    }

    /**
     * The agent could not start a process at all (no process, thread or file descriptor left for it: EAGAIN, EMFILE,
     * ... on the spawn itself), which says nothing about the command: it is handed back (REJECTED) to run elsewhere.
     */
    static CommandResult handedBack(String reason) {
        return new CommandResult(Outcome.REJECTED, -1, new byte[0], false, new byte[0], false, reason, -1, -1);
    }

    /** True when no process could be started for this command, for a reason of the agent's, not the command's. */
    boolean agentCannotStartProcesses() {
        return outcome == Outcome.REJECTED;
    }

    static CommandResult of(Outcome outcome, int exitCode, AttemptOutput output, String reason) {
        return new CommandResult(outcome, exitCode, output.stdout().finalBytes(), output.stdout().truncated(),
                output.stderr().finalBytes(), output.stderr().truncated(), reason, output.stdout().total(),
                output.stderr().total());
    }
}
