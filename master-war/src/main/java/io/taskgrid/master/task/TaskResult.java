package io.taskgrid.master.task;

/**
 * How an attempt ended, as the master records it.
 *
 * @param state    SUCCEEDED, FAILED, TIMED_OUT or CANCELLED
 * @param exitCode null when no process ran or it was killed before it exited
 * @param reason   null unless the outcome needs explaining (agent-side failure, timeout)
 */
public record TaskResult(TaskState state, Integer exitCode, String stdout, boolean stdoutTruncated, String stderr,
                         boolean stderrTruncated, String reason) {
    public TaskResult {
        if (!state.isFinal()) {
            throw new IllegalArgumentException("a result needs a final state, not " + state);
        }
    }

    /**
     * The state an agent's outcome puts a task in: exit code 0 succeeds, any other fails; a timeout is TIMED_OUT; a
     * command that could not start, or that the agent killed while shutting down, FAILED; a stop on request
     * CANCELLED. The agent's reason stays, or a default one explains the state.
     */
    public static TaskResult of(AgentOutcome outcome, int exitCode, String stdout, boolean stdoutTruncated,
                                String stderr, boolean stderrTruncated, String reason) {
        return switch (outcome) {
            case EXITED -> new TaskResult(exitCode == 0 ? TaskState.SUCCEEDED : TaskState.FAILED, exitCode, stdout,
                    stdoutTruncated, stderr, stderrTruncated, reason);
            case TIMED_OUT -> new TaskResult(TaskState.TIMED_OUT, null, stdout, stdoutTruncated, stderr, stderrTruncated,
                    reason != null ? reason : "timed out");
            case FAILED_TO_START -> new TaskResult(TaskState.FAILED, null, stdout, stdoutTruncated, stderr,
                    stderrTruncated, reason != null ? reason : "the command could not be started");
            case KILLED -> new TaskResult(TaskState.FAILED, null, stdout, stdoutTruncated, stderr, stderrTruncated,
                    reason != null ? reason : "killed by the agent");
            case CANCELLED -> new TaskResult(TaskState.CANCELLED, null, stdout, stdoutTruncated, stderr, stderrTruncated,
                    reason != null ? reason : "cancelled");
            case UNKNOWN -> new TaskResult(TaskState.FAILED, null, stdout, stdoutTruncated, stderr, stderrTruncated,
                    "the agent reported no outcome");
        };
    }

    /** A non-zero exit: the one outcome that retries may run again. */
    boolean isNonZeroExit() {
        return state == TaskState.FAILED && exitCode != null && exitCode != 0;
    }
}
