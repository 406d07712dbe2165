package io.taskgrid.agent;

import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.Outcome;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One execution of an assigned command: {@code /bin/sh -c <cmd>} with the task's environment added to the agent's
 * (less the agent's own settings and credentials, see {@link TaskEnvironment}), in the task's working directory, stdin
 * from /dev/null, stdout and stderr captured apart, as the {@code --run-as} user when there is one. Whatever happens,
 * the command's whole process tree is gone when {@link #run} returns.
 */
final class CommandRun {

    private static final File DEV_NULL = new File("/dev/null");
    /** What a write to an empty pipe always takes whole, at once (POSIX: at least 512; Linux: 4096). */
    private static final int PIPE_BUF = 4096;
    private static final Path ROOT = Path.of("/");
    private static final SecureRandom RANDOM = new SecureRandom();
    /**
     * Threads for what the {@link OutputPump} cannot do: drain the JDK's pipes where there is no {@link OsPipe}, or
     * every command's pipes where the pump's thread could not be had; and hand a --run-as shell an environment larger
     * than a pipe takes at once. Kept between commands; the usual command uses none of them.
     */
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
    private final TaskEnvironment.Policy environment;
    private Process process;
    private ProcessTree tree;
    private boolean killRequested;
    private String killReason;
    private Outcome killOutcome;
    /** The most processes a stop left running (see ProcessTree#stop); guarded by this. */
    private int survivors;

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
        this(assignment, killGrace, watchdog, runAs, output, onOutput, TaskEnvironment.Policy.ANY);
    }

    /** @param environment which variables the command may get, of the task's and of the agent's own */
    CommandRun(Assignment assignment, Duration killGrace, Watchdog watchdog, RunAs runAs, AttemptOutput output,
               Runnable onOutput, TaskEnvironment.Policy environment) {
        this.environment = environment;
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
        Set<String> refused = environment.refused(assignment.getEnvMap());
        if (!refused.isEmpty()) {
            return CommandResult.notStarted(TaskEnvironment.Policy.refusal(refused));
        }
        Path givenDirectory;
        try {
            givenDirectory = assignment.getCwd().isEmpty() ? null : Path.of(assignment.getCwd());
        } catch (InvalidPathException e) {
            return CommandResult.notStarted(unusableDirectory());
        }
        ProcessBuilder builder = new ProcessBuilder(ProcessTree.commandLine(assignment.getCmd(), runAs));
        Map<String, String> env = builder.environment();
        environment.prepare(env);
        if (runAs != null) {
            env.put("HOME", runAs.home().toString());
            env.put("USER", runAs.user());
            env.put("LOGNAME", runAs.user());
        }
        env.putAll(assignment.getEnvMap());
        String environmentScript = null;
        byte[] noDirectoryMark = null;
        Path checkedDirectory = null;
        if (runAs == null) {
            builder.redirectInput(DEV_NULL);
            if (givenDirectory != null) {
                // The agent's user is the command's: what it may enter, the command may.
                checkedDirectory = givenDirectory;
                if (!enterable(checkedDirectory)) {
                    return CommandResult.notStarted(unusableDirectory());
                }
                builder.directory(checkedDirectory.toFile());
            }
        } else {
            // Entered by the command's first shell once it is that user (see ProcessTree.ENTER_DIRECTORY): root, who
            // starts it, may enter any directory, and would tell which exist.
            String directory;
            String mark = "";
            if (givenDirectory == null) {
                directory = runAs.home().toString();
            } else {
                directory = ROOT.resolve(givenDirectory).toString();
                // Random, so that no command's own output can pass for it; readable, since the live output shows it.
                mark = "taskgrid: cannot enter the working directory (" + HexFormat.of().formatHex(randomBytes(16))
                        + ")";
                noDirectoryMark = (mark + "\n").getBytes(StandardCharsets.UTF_8);
            }
            // Set only once the command runs as that user (see ProcessTree.commandLine).
            environmentScript = TaskEnvironment.exportScript(env) + "set -- \"$1\" "
                    + TaskEnvironment.quoted(directory) + " " + TaskEnvironment.quoted(mark) + "\n";
            env.clear();
            env.putAll(TaskEnvironment.BEFORE_SWITCH);
            builder.directory(ROOT.toFile());
        }

        OsPipe outPipe = null;
        OsPipe errPipe = null;
        Reader outReader = null;
        Reader errReader = null;
        if (OsPipe.usable()) {
            try {
                OsPipe[] pipes = OsPipe.openTwo();
                outPipe = pipes[0];
                errPipe = pipes[1];
            } catch (IOException e) {
                closeAll(outPipe, errPipe);
                outPipe = null;
                errPipe = null;
                if (isResourceShortage(e)) {
                    return CommandResult.handedBack("this agent cannot start processes now: no pipe for the output ("
                            + e.getMessage() + ")");
                }
                warnNoOsPipe(e);
            }
        }
        if (outPipe != null) {
            builder.redirectOutput(outPipe.path());
            builder.redirectError(errPipe.path());
            try {
                // Before the process exists: a thread that cannot be had now is no reason to start a command whose
                // output nobody would read. Usually the agent's one pump, which costs the command no thread.
                OutputPump pump = OutputPump.shared();
                if (pump != null) {
                    outReader = Reader.pumped(pump, pump.drain(outPipe.source(), output.stdout(), onOutput));
                    errReader = Reader.pumped(pump, pump.drain(errPipe.source(), output.stderr(), onOutput));
                } else {
                    outReader = Reader.pooled(READERS.submit(reader(outPipe.source(), output.stdout())),
                            outPipe.source());
                    errReader = Reader.pooled(READERS.submit(reader(errPipe.source(), output.stderr())),
                            errPipe.source());
                }
            } catch (IOException | OutOfMemoryError | RejectedExecutionException e) {
                closeAll(outPipe, errPipe);
                if (outReader != null) {
                    outReader.cutOff();
                }
                return CommandResult.handedBack("this agent cannot start processes now: no thread to read the "
                        + "output (" + e.getMessage() + ")");
            }
        }
        synchronized (this) {
            if (killRequested) {
                closeAll(outPipe, errPipe);
                return CommandResult.of(killOutcome, -1, output, killReason);
            }
            try {
                process = builder.start();
            } catch (IOException | OutOfMemoryError e) {
                closeAll(outPipe, errPipe);
                return startFailure(e, checkedDirectory);
            } finally {
                // The command has its own writing ends now; ours would keep the readers from ever seeing the end.
                if (outPipe != null) {
                    outPipe.closeSink();
                    errPipe.closeSink();
                }
            }
            tree = ProcessTree.of(process);
            if (environmentScript != null) {
                handOver(process, environmentScript);
            }
            if (watchdog != null && tree.groupId() > 0) {
                watchdog.started(tree.groupId());
            }
        }
        if (outPipe == null) {
            ReadableByteChannel out = Channels.newChannel(process.getInputStream());
            ReadableByteChannel err = Channels.newChannel(process.getErrorStream());
            outReader = Reader.pooled(READERS.submit(reader(out, output.stdout())), out);
            errReader = Reader.pooled(READERS.submit(reader(err, output.stderr())), err);
        }
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
            survived(tree.stop(killGrace));
        }
        stopWhatIsLeft(timedOut, outReader, errReader);
        // What the tree printed is in the pipes, or on its way: read to the end. A process that left the tree (and
        // so was not stopped with it) may hold a pipe open for as long as it lives; after a while its output is cut
        // off, the pipe closed, and the reader, its thread and the capture are let go.
        long readUntil = System.nanoTime() + killGrace.toNanos() + TimeUnit.SECONDS.toNanos(5);
        boolean cutOff = !finishReading(outReader, readUntil);
        cutOff |= !finishReading(errReader, readUntil);
        int exit = waitForExit();

        String notes = notes(cutOff);
        synchronized (this) {
            if (killRequested) {
                return CommandResult.of(killOutcome, exit, output, join(killReason, notes));
            }
        }
        if (timedOut) {
            return CommandResult.of(Outcome.TIMED_OUT, exit, output, join("timed out after "
                    + assignment.getTimeoutSeconds() + " s; the process tree was stopped", notes));
        }
        if (noDirectoryMark != null && exit == ProcessTree.NO_DIRECTORY_EXIT && output.stdout().total() == 0
                && output.stderr().holdsExactly(noDirectoryMark)) {
            return CommandResult.notStarted(unusableDirectory());
        }
        return CommandResult.of(Outcome.EXITED, exit, output, notes);
    }

    /** How long, after the shell exited, its pipes may take to reach their end for the run to count as quiet. */
    static final long QUIET_EXIT_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    /**
     * After the shell's exit (and the stop of a timed-out tree): sees to it that nothing the command started outlives
     * it, at the least cost that keeps that promise.
     *
     * <ul>
     *   <li>In a PID namespace of its own (--run-as), nothing can be left: the kernel ended the namespace with the
     *       command's first process.</li>
     *   <li>When both pipes reach their end right after the exit, nothing holds them any more: the usual short
     *       command. Its session goes to the {@link LeftoverSweeper}, which stops within its interval whatever is left
     *       (a background process with its output elsewhere), with one look at /proc for all commands that ended
     *       meanwhile instead of one per command.</li>
     *   <li>Otherwise (a timeout, a kill, a background process still printing or holding the output, no sweeper) the
     *       session is stopped here and now, TERM, grace, KILL ({@link ProcessTree#stopLeftovers}), before the rest of
     *       the output is awaited, as it always was.</li>
     * </ul>
     */
    private void stopWhatIsLeft(boolean timedOut, Reader outReader, Reader errReader) {
        long group = tree.groupId();
        boolean watched = watchdog != null && group > 0;
        if (runAs != null && runAs.ownPidNamespace()) {
            if (watched) {
                watchdog.ended(group);
            }
            return;
        }
        boolean stopping;
        synchronized (this) {
            stopping = killRequested;
        }
        if (!timedOut && !stopping && group > 0) {
            long deadline = System.nanoTime() + QUIET_EXIT_NANOS;
            if (outReader.await(deadline) && errReader.await(deadline)) {
                LeftoverSweeper sweeper = LeftoverSweeper.shared();
                if (sweeper != null) {
                    sweeper.watch(group, killGrace, watched ? () -> watchdog.ended(group) : () -> { });
                    return;
                }
            }
        }
        survived(tree.stopLeftovers(killGrace));
        if (watched) {
            watchdog.ended(group);
        }
    }

    /** The one reason for a working directory that is missing, is no directory, or may not be entered. */
    private String unusableDirectory() {
        return "the working directory " + assignment.getCwd() + " does not exist on this agent or "
                + (runAs == null ? "this agent's user" : "the user " + runAs.user()) + " may not enter it";
    }

    /** Whether the agent's own user can enter {@code directory} (access(2) for search, as the shell's cd would). */
    private static boolean enterable(Path directory) {
        return Files.isDirectory(directory) && Files.isExecutable(directory);
    }

    /**
     * Why {@link ProcessBuilder#start} failed, as a result. The command line is the agent's own (setsid, sh, ...), so
     * a failure is the agent's, and the task is handed back to run elsewhere, unless the task caused it: an environment
     * or command too large for exec (E2BIG), or a working directory that went away after it was looked at.
     */
    private CommandResult startFailure(Throwable failure, Path checkedDirectory) {
        String message = String.valueOf(failure.getMessage());
        if (failure instanceof IOException && errno(message) == E2BIG) {
            return CommandResult.notStarted("could not start /bin/sh: " + message);
        }
        if (checkedDirectory != null && !enterable(checkedDirectory)) {
            return CommandResult.notStarted(unusableDirectory());
        }
        return CommandResult.handedBack("this agent cannot start processes now: " + message);
    }

    private static final int E2BIG = 7;
    private static final Pattern ERRNO = Pattern.compile("error=(\\d+)");

    /** The errno in a message of the JDK's ("error=11, Resource temporarily unavailable"), or -1. */
    static int errno(String message) {
        Matcher matcher = ERRNO.matcher(message == null ? "" : message);
        return matcher.find() ? Integer.parseInt(matcher.group(1)) : -1;
    }

    /** Whether making a pipe failed for want of file descriptors, the agent's shortage and not the command's. */
    private static boolean isResourceShortage(IOException e) {
        String message = String.valueOf(e.getMessage());
        return message.contains("Too many open files") || message.contains("Cannot allocate memory")
                || message.contains("Resource temporarily unavailable");
    }

    private static volatile boolean warnedNoOsPipe;

    private static void warnNoOsPipe(IOException e) {
        if (!warnedNoOsPipe) {
            warnedNoOsPipe = true;
            Log.warn("commands' output goes through the JDK's pipes (" + e.getMessage() + "): a process that leaves "
                    + "a command's tree with its output holds a reader thread for as long as it lives");
        }
    }

    private static byte[] randomBytes(int n) {
        byte[] bytes = new byte[n];
        RANDOM.nextBytes(bytes);
        return bytes;
    }

    /** Notes on how the run ended that the reason should carry: survivors of the KILL, output cut off. */
    private String notes(boolean cutOff) {
        List<String> notes = new ArrayList<>();
        int left = survivors;
        if (left > 0) {
            notes.add(left + " process(es) of the command still ran after " + ProcessTree.KILL_PATIENCE.toSeconds()
                    + " s of KILL signals (forking faster than they were killed)");
        }
        if (cutOff) {
            notes.add("output was cut off " + (killGrace.toMillis() + 5000) / 1000 + " s after the command ended: a "
                    + "process that left its process tree still held stdout or stderr");
        }
        return notes.isEmpty() ? null : String.join("; ", notes);
    }

    private static String join(String reason, String notes) {
        return notes == null ? reason : reason + "; " + notes;
    }

    private void survived(int processes) {
        if (processes > 0) {
            synchronized (this) {
                survivors = Math.max(survivors, processes);
            }
        }
    }

    /**
     * Waits, until {@code deadline} (System.nanoTime()), for a reader to see the end of its pipe; then closes the
     * pipe, which ends the reader at once, wherever it was.
     *
     * @return whether the reader saw the end by itself
     */
    private static boolean finishReading(Reader reader, long deadline) {
        boolean ended = reader.await(deadline);
        reader.cutOff();
        return ended;
    }

    /**
     * One output stream being read: by the agent's {@link OutputPump} (no thread of its own), or, where there is no
     * pump or no {@link OsPipe}, by a thread of {@link #READERS} blocked on the pipe.
     */
    private static final class Reader {
        private final Future<?> done;
        private final AutoCloseable source;
        private final OutputPump pump;
        private final OutputPump.Drain drain;

        private Reader(Future<?> done, AutoCloseable source, OutputPump pump, OutputPump.Drain drain) {
            this.done = done;
            this.source = source;
            this.pump = pump;
            this.drain = drain;
        }

        static Reader pumped(OutputPump pump, OutputPump.Drain drain) {
            return new Reader(drain.ended, null, pump, drain);
        }

        static Reader pooled(Future<?> reading, AutoCloseable source) {
            return new Reader(reading, source, null, null);
        }

        /** Whether the reader saw the end of its pipe by {@code deadline} (System.nanoTime()). */
        boolean await(long deadline) {
            if (done.isDone()) {
                return true;
            }
            try {
                done.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                return true;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            } catch (ExecutionException | java.util.concurrent.CancellationException e) {
                return true;
            } catch (TimeoutException e) {
                return false; // someone still holds the pipe open
            }
        }

        /** Closes the pipe, which ends the reading at once, wherever it was; nothing to do once it ended. */
        void cutOff() {
            if (pump != null) {
                if (!drain.ended.isDone()) {
                    pump.release(drain);
                }
                return;
            }
            close(source);
            if (!done.isDone()) {
                // Interrupting a reader blocked on a channel closes it too (ClosedByInterruptException).
                done.cancel(true);
            }
        }
    }

    private static void closeAll(OsPipe... pipes) {
        for (OsPipe pipe : pipes) {
            close(pipe);
        }
    }

    private static void close(AutoCloseable closeable) {
        if (closeable != null) {
            try {
                closeable.close();
            } catch (Exception e) {
                // nothing to lose
            }
        }
    }

    /**
     * Writes the environment to the command's first shell and closes its stdin, on a reader thread: a pipe holds
     * 64 KiB, and the shell reads only once it has switched users.
     */
    private static void handOver(Process process, String environmentScript) {
        byte[] bytes = environmentScript.getBytes(StandardCharsets.UTF_8);
        if (bytes.length <= PIPE_BUF) {
            // Fits the empty pipe in one write that cannot block: no thread needed.
            try (OutputStream in = process.getOutputStream()) {
                in.write(bytes);
            } catch (IOException e) {
                // as below
            }
            return;
        }
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
     * is what keeps live output live. Ends at the end of the pipe, or when the pipe is closed under it.
     */
    private Runnable reader(ReadableByteChannel in, StreamCapture capture) {
        return () -> {
            ByteBuffer buffer = ByteBuffer.allocate(8192);
            try (in) {
                while (in.read(buffer) != -1) {
                    if (buffer.position() > 0 && capture.append(buffer.array(), 0, buffer.position())) {
                        onOutput.run();
                    }
                    buffer.clear();
                }
            } catch (IOException e) {
                // The pipe was closed under us (output cut off, or the command never started): keep what was read.
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
            survived(target.stop(killGrace));
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
}
