package io.taskgrid.agent;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * A small companion process that outlives the agent by exactly as long as it takes to stop the agent's commands.
 *
 * <p>The agent tells it, through a pipe, each process group it starts ({@code +PGID}) and ends ({@code -PGID}). When the
 * agent dies, even by SIGKILL, the kernel closes the pipe; the watchdog reads end of file and stops every group still
 * listed: TERM, two seconds, KILL. On a clean exit the list is empty and it just ends. It runs in a session of its own
 * so that a signal meant for the agent's terminal or process group does not take it down first.
 */
final class Watchdog implements AutoCloseable {

    private static final String SCRIPT = "exec awk '"
            + "/^\\+/ { live[substr($0, 2)] = 1; next } "
            + "/^-/ { delete live[substr($0, 2)]; next } "
            + "END { n = 0; for (g in live) { system(\"kill -s TERM -- -\" g \" 2>/dev/null\"); n++ } "
            + "if (n) { system(\"sleep 2\"); for (g in live) system(\"kill -s KILL -- -\" g \" 2>/dev/null\") } }'";

    private final OutputStream pipe;

    private Watchdog(Process process) {
        this.pipe = process.getOutputStream();
    }

    /** Starts the watchdog, or returns null (with a warning) where it cannot run. */
    static Watchdog start() {
        try {
            List<String> command = ProcessTree.inNewSession(List.of("/bin/sh", "-c", SCRIPT));
            ProcessBuilder builder = new ProcessBuilder(command)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(ProcessBuilder.Redirect.INHERIT);
            TaskEnvironment.scrub(builder.environment());
            Process process = builder.start();
            return new Watchdog(process);
        } catch (IOException e) {
            Log.warn("no watchdog (" + e.getMessage() + "): if this agent is killed with SIGKILL its running commands "
                    + "keep running");
            return null;
        }
    }

    synchronized void started(long processGroup) {
        write("+" + processGroup + "\n");
    }

    synchronized void ended(long processGroup) {
        write("-" + processGroup + "\n");
    }

    private void write(String line) {
        try {
            pipe.write(line.getBytes(StandardCharsets.US_ASCII));
            pipe.flush();
        } catch (IOException e) {
            Log.warn("watchdog is gone: " + e.getMessage());
        }
    }

    /** Clean exit: every command has ended, so the watchdog has nothing to stop. */
    @Override
    public synchronized void close() {
        try {
            pipe.close();
        } catch (IOException e) {
            // already gone
        }
    }
}
