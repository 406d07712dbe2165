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
}
