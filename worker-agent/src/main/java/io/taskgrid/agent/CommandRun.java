package io.taskgrid.agent;

import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.Outcome;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One execution of an assigned command: {@code /bin/sh -c <cmd>} with the task's environment added to the agent's
 * (less the agent's own settings and credentials, see {@link TaskEnvironment}), in the task's working directory, stdin
 * from /dev/null, stdout and stderr captured apart, as the {@code --run-as} user when there is one. Whatever happens,
 * the command's whole process tree is gone when {@link #run} returns.
 */
final class CommandRun {

    private static final File DEV_NULL = new File("/dev/null");
    /** Threads that drain the commands' output, kept between commands rather than started two per command. */
    private static final ExecutorService READERS = Executors.newCachedThreadPool(runnable -> {
        Thread thread = new Thread(runnable, "output-reader");
        thread.setDaemon(true);
        return thread;
    });

    private final Assignment assignment;
    private final Duration killGrace;
    private final Watchdog watchdog;
    private final RunAs runAs;
    private final AttemptOutput output;
    private final Runnable onOutput;
    private Process process;
    private ProcessTree tree;
    private boolean killRequested;
    private String killReason;
    private Outcome killOutcome;

    CommandRun(Assignment assignment, Duration killGrace) {
        this(assignment, killGrace, null);
    }

    /** @param watchdog told about the command's process group, so it can stop it if the agent dies; may be null */
    CommandRun(Assignment assignment, Duration killGrace, Watchdog watchdog) {
        this(assignment, killGrace, watchdog, null);
    }

    /** @param runAs the user to run the command as, or null for the agent's own */
    CommandRun(Assignment assignment, Duration killGrace, Watchdog watchdog, RunAs runAs) {
        this(assignment, killGrace, watchdog, runAs, new AttemptOutput(assignment), () -> { });
    }

    /**
     * @param output   where the output goes as it is read (head and tail, offsets), shared with the live stream
     * @param onOutput called when the live stream should look at {@code output} (see {@link StreamCapture#append})
     */
    CommandRun(Assignment assignment, Duration killGrace, Watchdog watchdog, RunAs runAs, AttemptOutput output,
               Runnable onOutput) {
        this.assignment = assignment;
        this.killGrace = killGrace;
        this.watchdog = watchdog;
        this.runAs = runAs;
        this.output = output;
        this.onOutput = onOutput;
    }

    String taskId() {
        return assignment.getTaskId();
    }

    /**
     * Runs the command to its end. {@code onStarted} is called once the process exists; it is not called when the
     * command cannot start.
     */
    CommandResult run(Runnable onStarted) {
        ProcessBuilder builder = new ProcessBuilder(ProcessTree.commandLine(assignment.getCmd(), runAs));
        Map<String, String> env = builder.environment();
        TaskEnvironment.scrub(env);
        if (runAs != null) {
            env.put("HOME", runAs.home().toString());
            env.put("USER", runAs.user());
            env.put("LOGNAME", runAs.user());
        }
        env.putAll(assignment.getEnvMap());
        String environmentScript = null;
        if (runAs == null) {
            builder.redirectInput(DEV_NULL);
        } else {
            // Set only once the command runs as that user (see ProcessTree.commandLine).
            environmentScript = TaskEnvironment.exportScript(env);
            env.clear();
            env.putAll(TaskEnvironment.BEFORE_SWITCH);
        }
        if (!assignment.getCwd().isEmpty()) {
            Path cwd = Path.of(assignment.getCwd());
            if (!Files.isDirectory(cwd)) {
                return CommandResult.notStarted("working directory " + cwd + " does not exist or is not a directory");
            }
            builder.directory(cwd.toFile());
        } else if (runAs != null) {
            builder.directory(runAs.defaultDirectory().toFile());
        }
        synchronized (this) {
            if (killRequested) {
                return CommandResult.of(killOutcome, -1, output, killReason);
            }
            try {
                process = builder.start();
            } catch (IOException e) {
                return CommandResult.notStarted("could not start /bin/sh: " + e.getMessage());
            }
            tree = ProcessTree.of(process);
            if (environmentScript != null) {
                handOver(process, environmentScript);
            }
            if (watchdog != null && tree.groupId() > 0) {
                watchdog.started(tree.groupId());
            }
        }
        Future<?> outReader = READERS.submit(reader(process.getInputStream(), output.stdout()));
        Future<?> errReader = READERS.submit(reader(process.getErrorStream(), output.stderr()));
        long startedAt = System.nanoTime();
        onStarted.run();

        boolean timedOut = false;
        try {
            long timeout = assignment.getTimeoutSeconds();
            if (timeout > 0) {
                // Counted from the start of the process, not from when the master heard of it.
                long left = TimeUnit.SECONDS.toNanos(timeout) - (System.nanoTime() - startedAt);
                timedOut = !process.waitFor(Math.max(0, left), TimeUnit.NANOSECONDS);
            } else {
                process.waitFor();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            kill("the agent was interrupted");
        }
        if (timedOut) {
            tree.stop(killGrace);
        }
        tree.stopLeftovers(killGrace);
        if (watchdog != null && tree.groupId() > 0) {
            watchdog.ended(tree.groupId());
        }
        join(outReader);
        join(errReader);
        int exit = waitForExit();

        synchronized (this) {
            if (killRequested) {
                return CommandResult.of(killOutcome, exit, output, killReason);
            }
        }
        if (timedOut) {
            return CommandResult.of(Outcome.TIMED_OUT, exit, output, "timed out after "
                    + assignment.getTimeoutSeconds() + " s; the process tree was stopped");
        }
        return CommandResult.of(Outcome.EXITED, exit, output, null);
    }

    /**
     * Writes the environment to the command's first shell and closes its stdin, on a reader thread: a pipe holds
     * 64 KiB, and the shell reads only once it has switched users.
     */
    private static void handOver(Process process, String environmentScript) {
        byte[] bytes = environmentScript.getBytes(StandardCharsets.UTF_8);
        READERS.submit(() -> {
            try (OutputStream in = process.getOutputStream()) {
                in.write(bytes);
            } catch (IOException e) {
                // The shell is gone before it read its environment (setpriv failed, or it was stopped): its exit
                // status and stderr say why.
            }
        });
    }

    /**
     * Drains one pipe to its end into its capture, even past the cap: a process whose pipe is not read blocks once
     * the pipe buffer is full and would never finish. Each read is handed on as it comes (no line buffering), which
     * is what keeps live output live.
     */
    private Runnable reader(InputStream in, StreamCapture capture) {
        return () -> {
            byte[] buffer = new byte[8192];
            try (in) {
                int n;
                while ((n = in.read(buffer)) != -1) {
                    if (capture.append(buffer, 0, n)) {
                        onOutput.run();
                    }
                }
            } catch (IOException e) {
                // The stream was closed under us (process killed and reaped): keep what was read.
            }
        };
    }

    /** Stops the whole tree (TERM, grace, KILL) from another thread; {@link #run} then reports KILLED. */
    void kill(String reason) {
        stop(Outcome.KILLED, reason);
    }

    /** Like {@link #kill}, because the master asked: {@link #run} then reports CANCELLED. */
    void cancel() {
        stop(Outcome.CANCELLED, "cancelled on request");
    }

    private void stop(Outcome outcome, String reason) {
        ProcessTree target;
        synchronized (this) {
            if (killRequested) {
                return;
            }
            killRequested = true;
            killReason = reason;
            killOutcome = outcome;
            target = tree;
        }
        if (target != null) {
            target.stop(killGrace);
        }
    }

    private int waitForExit() {
        while (true) {
            try {
                return process.waitFor();
            } catch (InterruptedException e) {
                process.destroyForcibly();
            }
        }
    }

    /**
     * Waits for a reader to see end of stream. A process that escaped the group could still hold the pipe open; after
     * a while its output is abandoned rather than holding the slot forever.
     */
    private void join(Future<?> reader) {
        try {
            reader.get(killGrace.toMillis() + 5000, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            reader.cancel(true);
        }
    }
}
