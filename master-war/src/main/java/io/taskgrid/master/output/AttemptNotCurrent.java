package io.taskgrid.master.output;

/**
 * Output of an attempt that is not its task's current attempt in flight in the database was not written: the output
 * of an attempt that has ended never changes, whoever sends it.
 */
public final class AttemptNotCurrent extends RuntimeException {
    private static final long serialVersionUID = 1L;

    AttemptNotCurrent(String attemptId) {
        super("attempt " + attemptId + " is not in flight: its output is not written", null, false, false);
    }
}
