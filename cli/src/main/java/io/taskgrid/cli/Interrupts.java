package io.taskgrid.cli;

/**
 * Ctrl-C while a task is followed. The JDK's own handling would end the JVM at once; {@code run} must first ask
 * whether to cancel the task, so it takes SIGINT itself (jdk.unsupported's {@code sun.misc.Signal}, which every JDK 17
 * has). Where the signal cannot be taken, Ctrl-C ends the command and the task runs on, as a detach would.
 */
final class Interrupts {

    private Interrupts() {
    }

    @SuppressWarnings("removal")
    static void onInterrupt(Runnable action) {
        try {
            sun.misc.Signal.handle(new sun.misc.Signal("INT"), signal -> new Thread(action, "taskgrid-interrupt")
                    .start());
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            // no SIGINT here
        }
    }
}
