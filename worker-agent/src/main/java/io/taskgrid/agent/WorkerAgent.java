package io.taskgrid.agent;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.Phase;
import io.taskgrid.proto.v1.Registered;
import io.taskgrid.proto.v1.RunningAttempt;
import io.taskgrid.proto.v1.StatusReport;
import io.taskgrid.proto.v1.WorkerCommand;
import sun.misc.Signal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The worker agent: takes assignments from the master, runs each on one of its slots, reports how it went.
 *
 * <p>On SIGTERM or SIGINT it asks the master for nothing more, lets running commands finish within the shutdown
 * grace, kills what is left (whole process trees), reports every one of them, and exits 0. What ends it otherwise,
 * each with an exit code of its own, is in {@link ExitCode}.
 */
public final class WorkerAgent {

    private static final Duration PROGRESS_PATIENCE = Duration.ofSeconds(10);
    private static final Duration SHUTDOWN_REPORT_PATIENCE = Duration.ofSeconds(10);
    private static final Duration OUTBOX_RETRY = Duration.ofSeconds(15);
    /** How long a finished attempt waits for its live output to be acknowledged before its result goes. */
    private static final Duration OUTPUT_FLUSH_PATIENCE = Duration.ofSeconds(5);
    /** How often an agent that could not start a process tries again whether it can. */
    static final Duration SPAWN_PROBE_INTERVAL = Duration.ofSeconds(5);
    /** What the agent tells the master when it shuts down. */
    private static final String SHUTTING_DOWN = "the agent is shutting down";

    private final AgentOptions options;
    private final MasterLink link;
    private final OutputStreamer streamer;
    private final Outbox outbox;
    private final Watchdog watchdog;
    /** The user commands run as; null for the agent's own. */
    private final RunAs runAs;
    private final ExecutorService slots;
    /** Sends stored results; one at a time, so a result is never reported twice at once. */
    private final ScheduledExecutorService flusher;
    /** attempt id to its run */
    private final Map<String, CommandRun> running = new ConcurrentHashMap<>();
    private final AtomicInteger busy = new AtomicInteger();
    private final AtomicBoolean shuttingDown = new AtomicBoolean();
    /** Whether the master has registered this agent on some connection since it started. */
    private volatile boolean registered;
    /**
     * Why this agent cannot start processes now (no process, thread or file descriptor left for one), while it cannot;
     * null while it can. Meanwhile it is drained, hands back what it is sent, and tries every
     * {@link #SPAWN_PROBE_INTERVAL} whether a process starts again.
     */
    private final AtomicReference<String> cannotStart = new AtomicReference<>();

    /**
     * An agent over its collaborators, which it owns from now on: the link to the master (an in-process one in tests),
     * the outbox of results, and the watchdog that stops process groups when the agent dies (null: none).
     */
    WorkerAgent(AgentOptions options, RunAs runAs, MasterLink link, Outbox outbox, Watchdog watchdog) {
        this.options = options;
        this.runAs = runAs;
        this.link = link;
        this.streamer = new OutputStreamer(link);
        this.outbox = outbox;
        this.watchdog = watchdog;
        this.flusher = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "outbox");
            t.setDaemon(true);
            return t;
        });
        // Results that could not be delivered at once are tried again every little while, not only at the next
        // connection: a master that failed to store one may well take it a minute later.
        flusher.scheduleWithFixedDelay(this::flushOutbox, OUTBOX_RETRY.toMillis(), OUTBOX_RETRY.toMillis(),
                TimeUnit.MILLISECONDS);
        AtomicInteger n = new AtomicInteger();
        // Not a fixed pool of `slots` threads: a thread may still be reporting a result when its slot's next task
        // arrives. The `busy` count is what holds the agent to its slots.
        this.slots = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "slot-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    public static void main(String[] args) {
        // vfork is the cheapest way for a JVM to start a process: twice the rate of Java 17's default (posix_spawn
        // through a helper) for a JVM of this size. Deprecated from Java 25 on, where the default is left alone.
        if (System.getProperty("jdk.lang.Process.launchMechanism") == null && Runtime.version().feature() < 25) {
            System.setProperty("jdk.lang.Process.launchMechanism", "VFORK");
        }
        AgentOptions given;
        try {
            given = AgentOptions.parse(args);
        } catch (AgentOptions.HelpRequested e) {
            System.out.print(AgentOptions.usage());
            System.exit(ExitCode.STOPPED.value());
            return;
        } catch (AgentOptions.UsageException e) {
            System.err.println("worker-agent: " + e.getMessage());
            System.err.println();
            System.err.print(AgentOptions.usage());
            System.exit(ExitCode.USAGE.value());
            return;
        }
        if (given.joinToken() != null && !given.tls() && !given.plaintextAllowed()
                && !JoinTokenCredentials.isLoopback(given.masterHost() + ":" + given.masterPort())) {
            exit(ExitCode.USAGE, "the master " + given.masterHost() + ":" + given.masterPort()
                    + " is not on this machine, and without TLS the join token would cross the network in clear: "
                    + "connect with --tls-ca FILE, or give --plaintext on a network you trust");
            return;
        }
        boolean root = runsAsRoot();
        RunAs runAs;
        try {
            runAs = given.runAs() == null ? null : RunAs.resolve(given.runAs(), root);
        } catch (RunAs.Unusable e) {
            exit(ExitCode.USAGE, e.getMessage());
            return;
        }
        AgentOptions options;
        StateDirectory state;
        try {
            // Held until the process ends: the lock keeps a second agent out of the directory meanwhile.
            state = StateDirectory.open(given.stateDir());
            options = given.withWorkerId(state.workerId(given.workerId()));
        } catch (UnusableStateDirectory e) {
            exit(ExitCode.STATE_DIRECTORY, e.getMessage());
            return;
        }
        MasterLink link;
        try {
            link = MasterLink.connect(options, version());
        } catch (IllegalArgumentException e) {
            // a --tls-* file that is no certificate or key
            exit(ExitCode.USAGE, "TLS cannot be set up: " + e.getMessage());
            return;
        }
        WorkerAgent agent = new WorkerAgent(options, runAs, link, state.outbox(), Watchdog.start());
        Thread linkThread = new Thread(() -> agent.runLink().ifPresent(code -> System.exit(code.value())),
                "master-link");
        Runnable shutdown = () -> {
            if (agent.shutdown()) {
                System.exit(ExitCode.STOPPED.value());
            }
        };
        Signal.handle(new Signal("TERM"), signal -> startShutdown(shutdown));
        Signal.handle(new Signal("INT"), signal -> startShutdown(shutdown));
        // Any other way out of the JVM still takes the process trees along.
        Runtime.getRuntime().addShutdownHook(new Thread(agent::killEverything, "kill-on-exit"));
        Log.info("worker " + options.workerId() + " (" + options.slots() + " slot(s)) starting; master "
                + agent.link.target() + "; state directory " + options.stateDir() + (options.allow().isEmpty() ? ""
                : "; runs only commands matching " + options.allow().size() + " --allow rule(s), with "
                + (options.allowEnv().isEmpty() ? "no variable of a task's own" : "only the variables "
                + String.join(", ", options.allowEnv()) + " of a task's own") + " (--allow-env)")
                + (agent.runAs == null ? "" : "; commands run as " + agent.runAs.user() + " (uid " + agent.runAs.uid() + ")"));
        if (options.joinToken() == null) {
            Log.warn("no join token (--token-file or TASKGRID_JOIN_TOKEN): a master with authentication on will "
                    + "refuse this agent");
        }
        if (options.tokenFile() != null && readableByOthers(options.tokenFile())) {
            Log.warn("the token file " + options.tokenFile() + " can be read by other users: make it readable by this "
                    + "agent's user only (chmod 600)");
        }
        if (root && agent.runAs == null) {
            Log.warn("this agent runs as root, and so does every command it is given: run it as an unprivileged "
                    + "user, or give --run-as USER, and consider --allow");
        } else if (agent.runAs == null) {
            Log.info("commands run as this agent's own user: they can read its token file, state directory and "
                    + "environment; --run-as USER (with the agent as root) keeps them apart");
        }
        List<String> codeRunning = options.allowEnv().stream().filter(TaskEnvironment::runsCode).toList();
        if (!codeRunning.isEmpty()) {
            Log.warn("--allow-env lets tasks set " + String.join(", ", codeRunning) + ", which make programs run code "
                    + "of the task's choosing: the --allow rules then no longer decide what runs");
        }
        if (agent.runAs != null) {
            if (agent.runAs.ownPidNamespace()) {
                Log.info("each command runs in a PID namespace of its own: nothing it starts outlives it");
            } else {
                Log.warn("no PID namespace can be made here (unshare --pid failed: a container without "
                        + "CAP_SYS_ADMIN?): a command that detaches itself with setsid can outlive its task");
            }
        }
        linkThread.start();
    }

    /** Ends an agent that could not start, saying why on one line. */
    private static void exit(ExitCode code, String why) {
        System.err.println("worker-agent: " + Log.oneLine(why));
        System.exit(code.value());
    }

    private static void startShutdown(Runnable shutdown) {
        Thread thread = new Thread(shutdown, "shutdown");
        // The signal thread is a daemon and so would be its children: the JVM would exit mid-shutdown.
        thread.setDaemon(false);
        thread.start();
    }

    private static boolean readableByOthers(Path file) {
        try {
            return Files.getPosixFilePermissions(file).stream()
                    .anyMatch(p -> p.name().startsWith("GROUP_") || p.name().startsWith("OTHERS_"));
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    private static boolean runsAsRoot() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    return line.split("\\s+")[2].equals("0"); // effective uid
                }
            }
        } catch (IOException e) {
            // not Linux: fall back to the name
        }
        return "root".equals(System.getProperty("user.name"));
    }

    /**
     * Runs the link to the master until the agent stops. A refused join token ends the agent from here: it shuts down
     * as on SIGTERM (running tasks get their grace, results stay in the outbox for an agent the master accepts).
     *
     * @return the code to exit with, when the link ended the agent; empty when something else stops it
     */
    Optional<ExitCode> runLink() {
        int stored = outbox.pending().size();
        if (stored > 0) {
            Log.info(stored + " result(s) from before are waiting in " + outbox.dir() + " to be reported");
        }
        Optional<Status> refusal = link.run(this::onCommand, this::claims);
        if (refusal.isEmpty()) {
            return Optional.empty();
        }
        String reason = Objects.requireNonNullElse(refusal.get().getDescription(), "no reason given");
        Log.error("the master at " + link.target() + " refused this agent's join token (" + reason + "): stopping, "
                + "exit code " + ExitCode.JOIN_TOKEN_REFUSED.value());
        // A shutdown already under way (SIGTERM meanwhile) ends the process itself.
        return shutdown() ? Optional.of(ExitCode.JOIN_TOKEN_REFUSED) : Optional.empty();
    }

    /**
     * What this agent still holds, for the master to keep: attempts still running, and finished ones whose results
     * have not reached the master yet.
     */
    private List<RunningAttempt> claims() {
        List<RunningAttempt> claims = new ArrayList<>();
        running.forEach((attemptId, run) ->
                claims.add(RunningAttempt.newBuilder().setAttemptId(attemptId).setTaskId(run.taskId()).build()));
        for (StatusReport stored : outbox.pending()) {
            if (!running.containsKey(stored.getAttemptId())) {
                claims.add(RunningAttempt.newBuilder().setAttemptId(stored.getAttemptId())
                        .setTaskId(stored.getTaskId()).build());
            }
        }
        return claims;
    }

    /**
     * Sends every stored result whose attempt is not still being reported by its own slot; what does not get through
     * stays for the next try.
     */
    private void flushOutbox() {
        if (!registered) {
            return;
        }
        for (StatusReport report : outbox.pending()) {
            if (running.containsKey(report.getAttemptId())) {
                continue;
            }
            switch (link.report(report, PROGRESS_PATIENCE)) {
                case DELIVERED, REFUSED -> outbox.remove(report);
                case LATER -> {
                    return;
                }
            }
        }
    }

    /**
     * The master registered this connection: reports are taken from now on. Results of claims it refused (attempts it
     * never handed to this worker id) are dropped, the rest sent.
     */
    private void onRegistered(Registered registered) {
        Set<String> refused = Set.copyOf(registered.getRefusedAttemptIdsList());
        if (!refused.isEmpty()) {
            Log.warn("the master does not know " + refused.size() + " attempt(s) this agent still held; their results "
                    + "are dropped");
            outbox.pending().stream().filter(r -> refused.contains(r.getAttemptId())).forEach(outbox::remove);
        }
        Log.info("the master took this agent as worker " + options.workerId() + " (" + options.slots() + " slot(s))");
        this.registered = true;
        String why = cannotStart.get();
        if (why != null) {
            // A new connection is not drained: this agent still cannot run what it would be sent.
            flusher.execute(() -> link.drain(why));
        }
        streamer.connected();
        flusher.execute(this::flushOutbox);
    }

    private void onCommand(WorkerCommand command) {
        switch (command.getKindCase()) {
            case REGISTERED -> onRegistered(command.getRegistered());
            case ASSIGNMENT -> accept(command.getAssignment());
            case CANCEL -> {
                CommandRun run = running.get(command.getCancel().getAttemptId());
                if (run != null) {
                    Log.info("task " + command.getCancel().getTaskId() + " cancelled by the master: stopping it");
                    run.cancel();
                }
            }
            default -> Log.warn("ignoring a command this agent does not know: " + command.getKindCase());
        }
    }

    /** Called on the stream's thread; never blocks it. */
    void accept(Assignment assignment) {
        if (shuttingDown.get()) {
            reject(assignment, SHUTTING_DOWN);
            return;
        }
        String why = cannotStart.get();
        if (why != null) {
            reject(assignment, why);
            return;
        }
        if (busy.incrementAndGet() > options.slots()) {
            busy.decrementAndGet();
            reject(assignment, "the agent has no free slot");
            return;
        }
        AtomicBoolean slotHeld = new AtomicBoolean(true);
        Runnable freeSlot = () -> {
            if (slotHeld.compareAndSet(true, false)) {
                busy.decrementAndGet();
            }
        };
        try {
            slots.execute(() -> {
                try {
                    execute(assignment, freeSlot);
                } finally {
                    freeSlot.run();
                }
            });
        } catch (RejectedExecutionException e) {
            freeSlot.run();
            reject(assignment, SHUTTING_DOWN);
        } catch (OutOfMemoryError e) {
            // No thread for the slot: the user's processes (threads count as ones) are used up.
            freeSlot.run();
            String reason = "this agent cannot start processes now: no thread for a slot (" + e.getMessage() + ")";
            if (cannotStartProcesses(reason)) {
                // Not on this thread, which the stream's commands wait for.
                flusher.execute(() -> link.drain(reason));
            }
            reject(assignment, reason);
        }
    }

    /** @param freeSlot frees this task's slot; called once the result is safe on disk, before it is reported */
    private void execute(Assignment assignment, Runnable freeSlot) {
        String taskId = assignment.getTaskId();
        if (!options.allows(assignment.getCmd())) {
            Log.warn("task " + taskId + " refused: its command matches no --allow rule");
            deliver(finished(assignment, CommandResult.notStarted(
                    "this agent runs only commands matching its --allow rules; this one matches none")), freeSlot);
            return;
        }
        AttemptOutput output = new AttemptOutput(assignment);
        streamer.add(output);
        CommandRun run = new CommandRun(assignment, options.killGrace(), watchdog, runAs, output, streamer::wake,
                options.environmentPolicy());
        running.put(assignment.getAttemptId(), run);
        try {
            // STARTED is not waited for: the command should not wait a round trip to start. Its result is sent only
            // once STARTED has been answered, so the master hears of the two in order.
            CompletableFuture<Void> started = new CompletableFuture<>();
            AtomicBoolean reportedStart = new AtomicBoolean();
            CommandResult result = run.run(() -> {
                reportedStart.set(true);
                link.reportAsync(progress(assignment, Phase.STARTED)).whenComplete((v, e) -> started.complete(null));
            });
            if (!reportedStart.get()) {
                // It never started (no directory, too large an environment, cancelled first): no STARTED to wait for.
                started.complete(null);
            }
            if (result.agentCannotStartProcesses()) {
                // Nothing ran, and nothing here would: the master is told to send no more before the task goes back,
                // so that it does not come straight back here.
                if (cannotStartProcesses(result.reason())) {
                    link.drain(result.reason());
                }
                handBack(assignment, result.reason());
                return;
            }
            Log.info("task " + taskId + " attempt " + assignment.getAttemptId() + " finished: " + result.outcome()
                    + (result.outcome() == Outcome.EXITED ? " with exit code " + result.exitCode() : "")
                    + (result.reason() == null ? "" : " (" + result.reason() + ")"));
            // The live output first, so that a follower has all of it when it hears the task ended; what does not
            // get through in time the master rebuilds from the result.
            streamer.finish(output, OUTPUT_FLUSH_PATIENCE);
            StatusReport report = finished(assignment, result);
            outbox.save(report);
            freeSlot.run();
            try {
                started.get(PROGRESS_PATIENCE.toMillis(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException | ExecutionException e) {
                // sent anyway: the master copes with a result that overtakes its STARTED
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            send(report);
        } finally {
            running.remove(assignment.getAttemptId());
            streamer.finish(output, Duration.ZERO);
        }
    }

    /**
     * Stores a finished attempt's report, frees its slot, then sends it. The master frees the slot when the report
     * arrives and may send the next task at once, possibly before this thread is done with the report: the slot must
     * already be free by then. If the master is unreachable the report waits in the outbox for the link to return.
     */
    private void deliver(StatusReport report, Runnable freeSlot) {
        outbox.save(report);
        freeSlot.run();
        send(report);
    }

    /** Sends a stored result; it leaves the outbox once the master has it (or refused it for good). */
    private void send(StatusReport report) {
        Duration patience = shuttingDown.get() ? SHUTDOWN_REPORT_PATIENCE : PROGRESS_PATIENCE;
        switch (link.report(report, patience)) {
            case DELIVERED, REFUSED -> outbox.remove(report);
            case LATER -> Log.warn("the result of task " + report.getTaskId() + " waits in " + outbox.dir()
                    + " until the master takes it");
        }
    }

    private void reject(Assignment assignment, String why) {
        Log.warn("task " + assignment.getTaskId() + " handed back to the master: " + why);
        StatusReport report = rejection(assignment, why);
        try {
            Thread t = new Thread(() -> link.report(report, SHUTDOWN_REPORT_PATIENCE), "reject-" + assignment.getTaskId());
            t.setDaemon(true);
            t.start();
        } catch (OutOfMemoryError e) {
            // No thread to be had (this agent's user has used up its processes): sent once, without retries.
            link.reportAsync(report);
        }
    }

    /** Hands a task back from its slot's own thread, which needs no new one. */
    private void handBack(Assignment assignment, String why) {
        Log.warn("task " + assignment.getTaskId() + " handed back to the master: " + why);
        link.report(rejection(assignment, why), SHUTDOWN_REPORT_PATIENCE);
    }

    private StatusReport rejection(Assignment assignment, String why) {
        return StatusReport.newBuilder()
                .setWorkerId(options.workerId())
                .setTaskId(assignment.getTaskId())
                .setAttemptId(assignment.getAttemptId())
                .setPhase(Phase.FINISHED)
                .setOutcome(Outcome.REJECTED)
                .setReason(why)
                .build();
    }

    /**
     * This agent could not start a process for a reason of its own (none left for its user, no file descriptor, no
     * thread): every task it took now would fail the same way. It asks the master for no more (Drain, with the reason
     * the operator then sees on the worker), hands back whatever still arrives, and tries every
     * {@link #SPAWN_PROBE_INTERVAL} to start a process; once one starts, it connects to the master again, which takes it
     * afresh, undrained.
     *
     * @return whether this is news: the caller then asks the master to drain this worker
     */
    private boolean cannotStartProcesses(String reason) {
        if (!cannotStart.compareAndSet(null, reason)) {
            return false;
        }
        Log.error(reason + ": taking no more tasks until processes start again (the master is asked to drain this "
                + "worker; a process is tried every " + SPAWN_PROBE_INTERVAL.toSeconds() + " s)");
        scheduleSpawnProbe();
        return true;
    }

    private void scheduleSpawnProbe() {
        try {
            flusher.schedule(this::probeSpawn, SPAWN_PROBE_INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            // shutting down
        }
    }

    /** Starts a process as a task's would be started; once it starts, this agent takes tasks again. */
    private void probeSpawn() {
        String reason = cannotStart.get();
        if (reason == null || shuttingDown.get()) {
            return;
        }
        CommandResult probe = new CommandRun(Assignment.newBuilder().setTaskId("spawn-probe")
                .setAttemptId("spawn-probe").setCmd("exit 0").setTimeoutSeconds(30).build(), options.killGrace(),
                null, runAs).run(() -> { });
        if (probe.agentCannotStartProcesses()) {
            scheduleSpawnProbe();
            return;
        }
        cannotStart.set(null);
        Log.info("processes start again: taking tasks again (connecting to the master afresh, which ends the drain)");
        link.reconnect("this agent can start processes again");
    }

    /**
     * Graceful stop: no new work, running commands get the grace period, the rest are killed and reported.
     *
     * @return false if a shutdown was already under way
     */
    boolean shutdown() {
        if (!shuttingDown.compareAndSet(false, true)) {
            return false;
        }
        Log.info("shutting down: no new tasks; " + running.size() + " running task(s) get up to "
                + options.shutdownGrace().toSeconds() + " s to finish");
        link.drain(SHUTTING_DOWN);
        slots.shutdown();
        try {
            if (!slots.awaitTermination(options.shutdownGrace().toMillis(), TimeUnit.MILLISECONDS)) {
                Log.warn("grace period over: killing " + running.size() + " task(s)");
                running.values().forEach(run -> run.kill("the agent shut down before the command finished"));
                slots.awaitTermination(options.killGrace().toMillis() + SHUTDOWN_REPORT_PATIENCE.toMillis() + 5000,
                        TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        killEverything();
        flusher.shutdown();
        streamer.stop();
        link.stop();
        if (watchdog != null) {
            watchdog.close();
        }
        int unsent = outbox.pending().size();
        Log.info("stopped" + (unsent == 0 ? "" : "; " + unsent + " result(s) wait in " + outbox.dir()
                + " for the next start"));
        return true;
    }

    private void killEverything() {
        running.values().forEach(run -> run.kill("the agent exited"));
    }

    private StatusReport progress(Assignment assignment, Phase phase) {
        return StatusReport.newBuilder()
                .setWorkerId(options.workerId())
                .setTaskId(assignment.getTaskId())
                .setAttemptId(assignment.getAttemptId())
                .setPhase(phase)
                .build();
    }

    private StatusReport finished(Assignment assignment, CommandResult result) {
        StatusReport.Builder report = StatusReport.newBuilder()
                .setWorkerId(options.workerId())
                .setTaskId(assignment.getTaskId())
                .setAttemptId(assignment.getAttemptId())
                .setPhase(Phase.FINISHED)
                .setOutcome(result.outcome())
                .setExitCode(result.exitCode())
                .setStdout(ByteString.copyFrom(result.stdout()))
                .setStderr(ByteString.copyFrom(result.stderr()))
                .setStdoutTruncated(result.stdoutTruncated())
                .setStderrTruncated(result.stderrTruncated());
        if (result.reason() != null) {
            report.setReason(result.reason());
        }
        if (result.stdoutTotal() >= 0) {
            report.setStdoutTotalBytes(result.stdoutTotal()).setStderrTotalBytes(result.stderrTotal());
        }
        return report.build();
    }

    private static String version() {
        String version = WorkerAgent.class.getPackage().getImplementationVersion();
        return version == null ? "dev" : version;
    }
}
