package io.taskgrid.master.task;

/**
 * How an agent says an attempt ended, in the task's own terms (the protocol's {@code Outcome} less the wire details),
 * so that the mapping to a task state is the task's rule, not the transport's.
 */
public enum AgentOutcome {
    /** The process exited by itself with an exit code. */
    EXITED,
    /** It ran past its timeout; its tree was stopped. */
    TIMED_OUT,
    /** No process ran (a missing working directory, a command no --allow rule matches, ...). */
    FAILED_TO_START,
    /** The agent stopped it because it was shutting down. */
    KILLED,
    /** It was stopped because its cancel was asked for. */
    CANCELLED,
    /** The agent sent no outcome it knows. */
    UNKNOWN
}
