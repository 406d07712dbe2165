package io.taskgrid.agent;

import com.google.protobuf.ByteString;
import io.taskgrid.proto.Protocol;
import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.CancelAttempt;
import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.Phase;
import io.taskgrid.proto.v1.Registered;
import io.taskgrid.proto.v1.ReportAck;
import io.taskgrid.proto.v1.RunningAttempt;
import io.taskgrid.proto.v1.StatusReport;
import io.taskgrid.proto.v1.Verdict;
import sun.misc.Signal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Pattern;

/**
 * The worker agent: takes assignments from the master, runs each on one of its slots, reports how it went.
 *
 * <p>It holds up to slots + prefetch assignments: one that finds a free slot starts at once, the rest wait here, in
 * the order they came, and the thread of a slot that frees takes the next one itself, without a word to the master and
 * without a thread hand-off. A task that ends within {@link Protocol#STARTED_REPORT_DELAY_MILLIS} with little output
 * costs one outbox file and one report; what runs longer is reported STARTED and its output streamed live, found by one
 * shared tick ({@link #TICK}) rather than a timer per task.
 *
 * <p>On SIGTERM or SIGINT it asks the master for nothing more, gives back what it held unstarted (RETURNED), lets
 * running commands finish within the shutdown grace, kills what is left (whole process trees), reports every one of
 * them, and exits 0. What ends it otherwise, each with an exit code of its own, is in {@link ExitCode}.
 */
public final class WorkerAgent {

    /** How long a drain waits for the master's answer. */
    private static final Duration DRAIN_PATIENCE = Duration.ofSeconds(3);
    /** How long a stopping agent waits for the master to acknowledge its last results. */
    private static final Duration SHUTDOWN_REPORT_PATIENCE = Duration.ofSeconds(10);
    static final Duration OUTBOX_RETRY = Duration.ofSeconds(15);
    /** How long a finished attempt waits for its live output to be acknowledged before its result goes. */
    private static final Duration OUTPUT_FLUSH_PATIENCE = Duration.ofSeconds(5);
    /** How often an agent that could not start a process tries again whether it can. */
    static final Duration SPAWN_PROBE_INTERVAL = Duration.ofSeconds(5);
    /**
     * How often the shared tick looks for attempts to report STARTED and to stream live: a STARTED report goes out
     * between {@link Protocol#STARTED_REPORT_DELAY_MILLIS} and that plus this after the start.
     */
    static final Duration TICK = Duration.ofMillis(20);
    /** What the agent tells the master when it shuts down. */
    private static final String SHUTTING_DOWN = "the agent is shutting down";
    private static final String ASKED_BACK = "the master asked for it back, for a worker with a free slot";
    /** What an attempt id must look like: it names a file in the outbox. */
    private static final Pattern ATTEMPT_ID = Pattern.compile("[A-Za-z0-9-]{1,64}");
    private static final int MAX_TASK_ID = 64;

    private final AgentOptions options;
    private final MasterLink link;
    private final OutputStreamer streamer;
    private final Outbox outbox;
    private final Watchdog watchdog;
    /** The user commands run as; null for the agent's own. */
    private final RunAs runAs;
    /**
     * Slot threads, kept between tasks. Not a fixed pool of `slots` threads: a thread may still be sending a result
     * when its slot's next task arrives. {@link #busy} is what holds the agent to its slots. Rare chores that may block
     * (a drain, a cancel) run here too, off the stream's thread.
     */
    private final ExecutorService slots;
    /** The shared tick, the outbox's periodic retry, the spawn probe: one thread for all of them. */
    private final ScheduledExecutorService timer;
    /** Attempts holding a slot (starting, running, or being reported), by attempt id. */
    private final Map<String, Attempt> running = new ConcurrentHashMap<>();
    private final Object slotLock = new Object();
    /** Slots taken; guarded by slotLock. */
    private int busy;
    /** How long the JVM may stand still before its stream is no longer trusted to speak for what it holds. */
    static final Duration PAUSE = Duration.ofSeconds(2);
    /** When the tick (or a slot checking for a pause) last ran, by System.nanoTime. */
    private volatile long lastTick = System.nanoTime();
    /** Set after a pause until the next stream is registered: nothing prefetched starts meanwhile. */
    private volatile boolean awaitingFreshStream;

    /** Assignments held until a slot frees, oldest first; guarded by slotLock. */
    private final ArrayDeque<Attempt> prefetched = new ArrayDeque<>();
    private final AtomicBoolean shuttingDown = new AtomicBoolean();
    /**
     * Why this agent cannot start processes now (no process, thread or file descriptor left for one), while it cannot;
     * null while it can. Meanwhile it is drained, hands back what it is sent, and tries every
     * {@link #SPAWN_PROBE_INTERVAL} whether a process starts again.
     */
    private final AtomicReference<String> cannotStart = new AtomicReference<>();

    /** One assignment this agent holds, from its arrival to its result's hand-over to the outbox and the link. */
    private static final class Attempt {
        final Assignment assignment;
        final AttemptOutput output;
        /** Set by the slot's thread before the process starts; null while prefetched. */
        volatile CommandRun run;
        /** System.nanoTime() once the process exists; 0 until then. */
        volatile long startedAt;
        volatile boolean cancelled;
        /** Guarded by this: STARTED and FINISHED are queued in this order, and STARTED never after FINISHED. */
        boolean reportedStarted;
        boolean finished;

        Attempt(Assignment assignment) {
            this.assignment = assignment;
            this.output = new AttemptOutput(assignment);
        }

        String id() {
            return assignment.getAttemptId();
        }
    }

    /**
     * An agent over its collaborators, which it owns from now on: the link to the master (an in-process one in tests),
     * the outbox of results, and the watchdog that stops process groups when the agent dies (null: none).
     */
    WorkerAgent(AgentOptions options, RunAs runAs, MasterLink link, Outbox outbox, Watchdog watchdog) {
        this(options, runAs, link, outbox, watchdog, OUTBOX_RETRY);
    }

    /** @param outboxRetry how often results the master has not taken are sent again */
    WorkerAgent(AgentOptions options, RunAs runAs, MasterLink link, Outbox outbox, Watchdog watchdog,
                Duration outboxRetry) {
        this.options = options;
        this.runAs = runAs;
        this.link = link;
        this.streamer = new OutputStreamer(link);
        this.outbox = outbox;
        this.watchdog = watchdog;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "agent-timer");
            t.setDaemon(true);
            return t;
        });
        // Results that could not be delivered at once (or that the master asked to have again) are tried again every
        // little while, not only at the next connection: a master that failed to store one may well take it later.
        timer.scheduleWithFixedDelay(this::flushOutbox, outboxRetry.toMillis(), outboxRetry.toMillis(),
                TimeUnit.MILLISECONDS);
        timer.scheduleWithFixedDelay(this::tick, TICK.toMillis(), TICK.toMillis(), TimeUnit.MILLISECONDS);
        AtomicInteger n = new AtomicInteger();
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
        // One connection, a few threads: Netty's default of two buffer arenas per core (each holding chunks of
        // several MiB once used) is sized for servers. With one of each and the heap ratios the README gives, the
        // largest agent's resident memory after 10,000 tasks fell from 109 to 85 MiB. Set before any Netty class
        // loads; a -D given on the command line wins.
        for (String arenas : new String[]{"io.grpc.netty.shaded.io.netty.allocator.numDirectArenas",
                "io.grpc.netty.shaded.io.netty.allocator.numHeapArenas"}) {
            if (System.getProperty(arenas) == null) {
                System.setProperty(arenas, "1");
            }
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
        Optional<String> inClear = tokenInClear(given);
        if (inClear.isPresent()) {
            exit(ExitCode.USAGE, inClear.get());
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
        Log.info("worker " + options.workerId() + " (" + options.slots() + " slot(s)) starting; master"
                + (options.masters().size() == 1 ? " " + agent.link.targets()
                : "s " + agent.link.targets() + " (one at a time, failing over in this order)")
                + "; state directory " + options.stateDir() + (options.allow().isEmpty() ? ""
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

    /**
     * Why these options would send the join token in clear to another machine, if they would: without TLS and without
     * --plaintext, every master address must be this machine's, not only the first one (a failover would send it).
     */
    static Optional<String> tokenInClear(AgentOptions given) {
        if (given.joinToken() == null || given.tls() || given.plaintextAllowed()) {
            return Optional.empty();
        }
        List<String> remote = given.masters().stream().map(AgentOptions.HostPortValue::authority)
                .filter(authority -> !JoinTokenCredentials.isLoopback(authority)).toList();
        if (remote.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of((remote.size() == 1 ? "the master " + remote.get(0) + " is"
                : "the masters " + String.join(", ", remote) + " are")
                + " not on this machine, and without TLS the join token would cross the network in clear: "
                + "connect with --tls-ca FILE, or give --plaintext on a network you trust");
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
     * Runs the link to the master until the agent stops. A refused join token or protocol ends the agent from here: it
     * shuts down as on SIGTERM (running tasks get their grace, results stay in the outbox for a later agent).
     *
     * @return the code to exit with, when the link ended the agent; empty when something else stops it
     */
    Optional<ExitCode> runLink() {
        int stored = outbox.pending().size();
        if (stored > 0) {
            Log.info(stored + " result(s) from before are waiting in " + outbox.dir() + " to be reported");
        }
        Optional<MasterLink.Refusal> refusal = link.run(new Handler(), this::claims);
        if (refusal.isEmpty()) {
            return Optional.empty();
        }
        String reason = Objects.requireNonNullElse(refusal.get().status().getDescription(), "no reason given");
        ExitCode code;
        if (refusal.get().kind() == MasterLink.Refusal.Kind.PROTOCOL) {
            code = ExitCode.PROTOCOL_MISMATCH;
            Log.error("the master at " + link.target() + " does not speak this agent's protocol " + Protocol.VERSION
                    + " (" + MasterLink.describe(refusal.get().status()) + "): upgrade master and agents together; "
                    + "stopping, exit code " + code.value());
        } else {
            code = ExitCode.JOIN_TOKEN_REFUSED;
            Log.error("the master at " + link.target() + " refused this agent's join token (" + reason + "): "
                    + "stopping, exit code " + code.value());
        }
        // A shutdown already under way (SIGTERM meanwhile) ends the process itself.
        return shutdown() ? Optional.of(code) : Optional.empty();
    }

    /** What the master says on the stream; called on the stream's thread, which none of these blocks for long. */
    private final class Handler implements MasterLink.Listener {
        @Override
        public void registered(Registered registered) {
            onRegistered(registered);
        }

        @Override
        public void assignments(List<Assignment> assignments) {
            assignments.forEach(WorkerAgent.this::accept);
        }

        @Override
        public void cancel(CancelAttempt cancel) {
            onCancel(cancel);
        }

        @Override
        public void giveBack(List<String> attemptIds) {
            onGiveBack(attemptIds);
        }

        @Override
        public void acknowledged(StatusReport report, ReportAck ack) {
            onAcknowledged(report, ack);
        }
    }

    /**
     * What this agent still holds, for the master to keep: attempts holding a slot, attempts prefetched and not
     * started, and finished ones whose results have not been taken yet.
     */
    private List<RunningAttempt> claims() {
        Set<String> seen = new LinkedHashSet<>();
        List<RunningAttempt> claims = new ArrayList<>();
        List<Attempt> held = new ArrayList<>(running.values());
        synchronized (slotLock) {
            held.addAll(prefetched);
        }
        for (Attempt attempt : held) {
            if (seen.add(attempt.id())) {
                claims.add(claim(attempt.assignment.getTaskId(), attempt.id()));
            }
        }
        for (StatusReport stored : outbox.pending()) {
            if (seen.add(stored.getAttemptId())) {
                claims.add(claim(stored.getTaskId(), stored.getAttemptId()));
            }
        }
        return claims;
    }

    private static RunningAttempt claim(String taskId, String attemptId) {
        return RunningAttempt.newBuilder().setTaskId(taskId).setAttemptId(attemptId).build();
    }

    /**
     * Sends every stored result that is not being reported by its own slot's thread, nor waiting for its answer on
     * this stream. One at a time (synchronized): a result is never sent twice at once.
     */
    private synchronized void flushOutbox() {
        if (!link.registered()) {
            return;
        }
        List<StatusReport> waiting = new ArrayList<>();
        for (StatusReport report : outbox.pending()) {
            if (!running.containsKey(report.getAttemptId()) && !link.inFlight(report.getAttemptId())) {
                waiting.add(report.toBuilder().clearSeq().build());
            }
        }
        if (!waiting.isEmpty()) {
            link.send(waiting);
        }
    }

    /**
     * The master registered this stream: reports are taken from now on. Results of claims it refused (attempts it
     * never handed to this worker id) are dropped, prefetched ones it refused are never started; the rest is sent.
     */
    private void onRegistered(Registered registered) {
        Set<String> refused = Set.copyOf(registered.getRefusedAttemptIdsList());
        if (!refused.isEmpty()) {
            Log.warn("the master does not know " + refused.size() + " attempt(s) this agent still held; their results "
                    + "are dropped, and those not started yet are not started");
            outbox.pending().stream().filter(r -> refused.contains(r.getAttemptId())).forEach(outbox::remove);
            synchronized (slotLock) {
                prefetched.removeIf(attempt -> refused.contains(attempt.id()));
            }
        }
        // Attempts the master gave up on while this agent was away: stopped, and one held prefetched never starts.
        for (String stale : registered.getStaleAttemptIdsList()) {
            onCancel(CancelAttempt.newBuilder().setAttemptId(stale).build());
        }
        Log.info("the master at " + link.target() + " took this agent as worker " + options.workerId() + " ("
                + options.slots() + " slot(s), prefetch " + options.prefetch() + ")");
        awaitingFreshStream = false;
        startPrefetched();
        String why = cannotStart.get();
        if (why != null) {
            // A new connection is not drained: this agent still cannot run what it would be sent.
            chore(() -> link.drain(why, DRAIN_PATIENCE));
        }
        streamer.connected();
        flushOutbox();
    }

    /** Runs {@code chore} off the stream's thread; on the timer's when no thread can be had. */
    private void chore(Runnable chore) {
        try {
            slots.execute(chore);
        } catch (RejectedExecutionException | OutOfMemoryError e) {
            try {
                timer.execute(chore);
            } catch (RejectedExecutionException stopped) {
                // shutting down
            }
        }
    }

    private void onAcknowledged(StatusReport report, ReportAck ack) {
        Verdict verdict = ack.getVerdict();
        if (verdict == Verdict.REFUSED) {
            Log.warn("the master refused the " + report.getPhase() + " report of task " + report.getTaskId()
                    + " attempt " + report.getAttemptId() + " for good: " + reason(ack)
                    + (report.getPhase() == Phase.FINISHED ? "; dropped" : ""));
        } else if (verdict != Verdict.TAKEN) {
            if (report.getPhase() == Phase.FINISHED) {
                Log.info("the master cannot take the result of task " + report.getTaskId() + " now ("
                        + (verdict == Verdict.RETRY ? reason(ack) : "verdict " + verdict)
                        + "); it waits in " + outbox.dir() + " and is sent again");
            }
            return;
        }
        if (report.getPhase() == Phase.FINISHED) {
            outbox.remove(report);
        }
    }

    /** The master's reason, as one line of bounded length: it comes from the network. */
    private static String reason(ReportAck ack) {
        String reason = ack.getReason().isEmpty() ? "no reason given" : ack.getReason();
        return Log.oneLine(reason.length() > 300 ? reason.substring(0, 300) + "..." : reason);
    }

    /** Called on the stream's thread; never blocks it. */
    void accept(Assignment assignment) {
        if (!ATTEMPT_ID.matcher(assignment.getAttemptId()).matches() || assignment.getTaskId().isEmpty()
                || assignment.getTaskId().length() > MAX_TASK_ID) {
            // No report can name it (the outbox files results by attempt id): the master's own check let it through.
            Log.error("ignoring an assignment with a malformed task or attempt id (task "
                    + Log.oneLine(assignment.getTaskId().substring(0, Math.min(64, assignment.getTaskId().length())))
                    + ")");
            return;
        }
        if (holds(assignment.getAttemptId())) {
            Log.warn("ignoring a second assignment of attempt " + assignment.getAttemptId() + " of task "
                    + assignment.getTaskId() + ", which this agent holds already");
            return;
        }
        Attempt attempt = new Attempt(assignment);
        boolean start;
        String why;
        synchronized (slotLock) {
            // Read under the lock that drainAndReturn empties the queue under: nothing is queued after it did.
            why = shuttingDown.get() ? SHUTTING_DOWN : cannotStart.get();
            if (why != null) {
                start = false;
            } else if (busy < options.slots()) {
                busy++;
                start = true;
            } else if (prefetched.size() < options.prefetch()) {
                prefetched.add(attempt);
                return;
            } else {
                start = false;
            }
        }
        if (why != null) {
            handBack(attempt, Outcome.RETURNED, why);
            return;
        }
        if (!start) {
            handBack(attempt, Outcome.REJECTED, "the agent has no free slot, and holds " + options.prefetch()
                    + " prefetched already");
            return;
        }
        running.put(attempt.id(), attempt);
        try {
            slots.execute(() -> runFrom(attempt));
        } catch (RejectedExecutionException e) {
            running.remove(attempt.id());
            releaseSlot();
            handBack(attempt, Outcome.RETURNED, SHUTTING_DOWN);
        } catch (OutOfMemoryError e) {
            // No thread for the slot: the user's processes (threads count as ones) are used up.
            running.remove(attempt.id());
            releaseSlot();
            String reason = "this agent cannot start processes now: no thread for a slot (" + e.getMessage() + ")";
            if (cannotStartProcesses(reason)) {
                // Not on this thread, which the stream's messages wait for.
                timer.execute(() -> drainAndReturn(reason));
            }
            handBack(attempt, Outcome.REJECTED, reason);
        }
    }

    private boolean holds(String attemptId) {
        if (running.containsKey(attemptId)) {
            return true;
        }
        synchronized (slotLock) {
            for (Attempt attempt : prefetched) {
                if (attempt.id().equals(attemptId)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Gives a slot up without a next task (nothing ran on it). */
    private void releaseSlot() {
        synchronized (slotLock) {
            busy--;
        }
    }

    /**
     * The slot's thread: runs {@code first}, then whatever was prefetched meanwhile, for as long as some waits when its
     * slot frees.
     */
    private void runFrom(Attempt first) {
        Attempt next = first;
        while (next != null) {
            next = runOne(next);
        }
    }

    /**
     * Runs one attempt on this slot, stores its result, frees the slot (or passes it on to the next prefetched
     * attempt, which this thread then runs) and sends the result.
     *
     * @return the prefetched attempt this thread runs next, if any
     */
    private Attempt runOne(Attempt attempt) {
        StatusReport report = null;
        Attempt next;
        try {
            report = execute(attempt);
        } catch (RuntimeException e) {
            Log.error("task " + attempt.assignment.getTaskId() + " failed in the agent: " + e);
            report = finished(attempt.assignment, CommandResult.notStarted("the agent failed to run it: " + e), -1);
        } finally {
            // Stored before the slot frees: the master frees the slot when the report arrives and may send the next
            // task at once; and a kill -9 of the agent from here on does not lose the result.
            if (report != null) {
                outbox.save(report);
            }
            next = passSlotOn();
            if (report != null) {
                synchronized (attempt) {
                    attempt.finished = true;
                    link.send(report);
                }
            }
            running.remove(attempt.id());
        }
        return next;
    }

    /**
     * Starts what was prefetched in the slots that are free: after a new stream is registered, since none starts while
     * no stream is (the master may have given it up meanwhile: Registered says which to stop instead).
     */
    private void startPrefetched() {
        while (true) {
            Attempt next;
            synchronized (slotLock) {
                if (busy >= options.slots() || shuttingDown.get() || cannotStart.get() != null) {
                    return;
                }
                next = prefetched.poll();
                if (next == null) {
                    return;
                }
                busy++;
                running.put(next.id(), next);
            }
            Attempt first = next;
            try {
                slots.execute(() -> runFrom(first));
            } catch (RejectedExecutionException | OutOfMemoryError e) {
                running.remove(first.id());
                releaseSlot();
                handBack(first, Outcome.RETURNED, SHUTTING_DOWN);
                return;
            }
        }
    }

    /**
     * Whether this JVM stood still (the tick, due every {@link #TICK}, did not run) for longer than {@link #PAUSE}: a
     * frozen container, a stopped process, a long collection. Its stream may look alive while the master has given up
     * what it holds meanwhile, so the agent connects afresh and starts nothing it holds prefetched until the new stream
     * is registered (Registered then names the attempts to stop). Called by the tick and by a slot about to start a
     * prefetched attempt, whichever runs first after the pause.
     */
    private boolean pausedFor(long now) {
        long last = lastTick;
        lastTick = now;
        if (now - last <= PAUSE.toNanos()) {
            return awaitingFreshStream;
        }
        if (link.registered() && !awaitingFreshStream) {
            awaitingFreshStream = true;
            Log.warn("this agent did not run for " + TimeUnit.NANOSECONDS.toMillis(now - last) + " ms (paused, or "
                    + "starved of CPU): the master may have given up what it holds; connecting afresh before anything "
                    + "held starts");
            link.reconnect("the agent was paused");
        }
        return true;
    }

    /** For tests: as if this JVM had stood still for {@code gap} just now. */
    void pretendPaused(Duration gap) {
        lastTick = System.nanoTime() - gap.toNanos();
    }

    /**
     * The next prefetched attempt, which takes over the slot; null when none waits (the slot is free then). None
     * starts while no stream is registered, nor after this JVM stood still: the master may have given it up meanwhile
     * (see {@link #startPrefetched}, {@link #pausedFor}).
     */
    private Attempt passSlotOn() {
        boolean paused = pausedFor(System.nanoTime());
        synchronized (slotLock) {
            Attempt next = shuttingDown.get() || cannotStart.get() != null || !link.registered() || paused ? null
                    : prefetched.poll();
            if (next == null) {
                busy--;
            } else {
                running.put(next.id(), next);
            }
            return next;
        }
    }

    /**
     * Runs one attempt's command to its end.
     *
     * @return its FINISHED report; null when it was handed back, already reported
     */
    private StatusReport execute(Attempt attempt) {
        Assignment assignment = attempt.assignment;
        String taskId = assignment.getTaskId();
        if (!options.allows(assignment.getCmd())) {
            Log.warn("task " + taskId + " refused: its command matches no --allow rule");
            return finished(assignment, CommandResult.notStarted(
                    "this agent runs only commands matching its --allow rules; this one matches none"), -1);
        }
        if (attempt.cancelled) {
            return cancelledUnstarted(assignment);
        }
        AttemptOutput output = attempt.output;
        // A byte printed before the attempt goes live waits for the report or for the tick: no wake-up per write.
        CommandRun run = new CommandRun(assignment, options.killGrace(), watchdog, runAs, output, () -> {
            if (output.isLive()) {
                streamer.wake();
            }
        }, options.environmentPolicy());
        attempt.run = run;
        if (attempt.cancelled) {
            // The cancel came between the check above and the run being known: it is not lost.
            run.cancel();
        }
        CommandResult result = run.run(() -> attempt.startedAt = System.nanoTime());
        long startedAt = attempt.startedAt;
        long ranNanos = startedAt == 0 ? -1 : System.nanoTime() - startedAt;
        boolean live = output.over();
        if (result.agentCannotStartProcesses()) {
            // Nothing ran, and nothing here would: the master is told to send no more before the task goes back,
            // so that it does not come straight back here.
            if (cannotStartProcesses(result.reason())) {
                drainAndReturn(result.reason());
            }
            Log.warn("task " + taskId + " handed back to the master: " + result.reason());
            return rejection(assignment, Outcome.REJECTED, result.reason());
        }
        Log.info("task " + taskId + " attempt " + assignment.getAttemptId() + " finished: " + result.outcome()
                + (result.outcome() == Outcome.EXITED ? " with exit code " + result.exitCode() : "")
                + (result.reason() == null ? "" : " (" + result.reason() + ")"));
        if (live) {
            // The live output first, so that a follower has all of it when it hears the task ended; what does not
            // get through in time the master rebuilds from the result.
            streamer.finish(output, OUTPUT_FLUSH_PATIENCE);
        }
        return finished(assignment, result, ranNanos);
    }

    /**
     * The shared tick: an attempt whose process has run {@link Protocol#STARTED_REPORT_DELAY_MILLIS} is reported
     * STARTED and streamed live; one whose output outgrew {@link Protocol#INLINE_OUTPUT_BYTES} is streamed live at
     * once.
     */
    private void tick() {
        try {
            pausedFor(System.nanoTime());
            if (running.isEmpty()) {
                return;
            }
            long now = System.nanoTime();
            long delay = TimeUnit.MILLISECONDS.toNanos(Protocol.STARTED_REPORT_DELAY_MILLIS);
            for (Attempt attempt : running.values()) {
                long startedAt = attempt.startedAt;
                if (startedAt == 0) {
                    continue;
                }
                boolean due = now - startedAt >= delay;
                if ((due || attempt.output.largestTotal() > Protocol.INLINE_OUTPUT_BYTES) && attempt.output.goLive()) {
                    streamer.add(attempt.output);
                }
                if (due) {
                    synchronized (attempt) {
                        if (!attempt.reportedStarted && !attempt.finished) {
                            attempt.reportedStarted = true;
                            link.send(progress(attempt.assignment, Phase.STARTED));
                        }
                    }
                }
            }
        } catch (RuntimeException e) {
            // A tick that threw would end the schedule, and with it every STARTED report after.
            Log.error("the agent's tick failed: " + e);
        }
    }

    private void onCancel(CancelAttempt cancel) {
        String attemptId = cancel.getAttemptId();
        List<Attempt> taken = takePrefetched(Set.of(attemptId));
        Attempt unstarted = taken.isEmpty() ? null : taken.get(0);
        if (unstarted != null) {
            Log.info("task " + unstarted.assignment.getTaskId() + " cancelled by the master before it started");
            StatusReport report = cancelledUnstarted(unstarted.assignment);
            outbox.save(report);
            link.send(report);
            return;
        }
        Attempt attempt = running.get(attemptId);
        if (attempt == null) {
            Log.info("the master cancelled attempt " + Log.oneLine(attemptId.substring(0, Math.min(64,
                    attemptId.length()))) + ", which this agent does not hold (any more): nothing to do");
            return;
        }
        Log.info("task " + attempt.assignment.getTaskId() + " cancelled by the master: stopping it");
        attempt.cancelled = true;
        CommandRun run = attempt.run;
        if (run != null) {
            // Stopping a tree waits out the kill grace: not on the stream's thread.
            chore(run::cancel);
        }
    }

    /**
     * Hands back, RETURNED, those of the attempts still held prefetched; one that started meanwhile runs on (the master
     * asks knowing it may have).
     */
    private void onGiveBack(List<String> attemptIds) {
        for (Attempt attempt : takePrefetched(new HashSet<>(attemptIds))) {
            Log.info("task " + attempt.assignment.getTaskId() + " given back unstarted: " + ASKED_BACK);
            sendBack(attempt, Outcome.RETURNED, ASKED_BACK);
        }
    }

    /** Takes those of {@code attemptIds} still held prefetched out of the queue, so that none of them starts. */
    private List<Attempt> takePrefetched(Set<String> attemptIds) {
        List<Attempt> taken = new ArrayList<>();
        synchronized (slotLock) {
            for (Iterator<Attempt> i = prefetched.iterator(); i.hasNext(); ) {
                Attempt attempt = i.next();
                if (attemptIds.contains(attempt.id())) {
                    i.remove();
                    taken.add(attempt);
                }
            }
        }
        return taken;
    }

    private StatusReport cancelledUnstarted(Assignment assignment) {
        return finished(assignment, new CommandResult(Outcome.CANCELLED, -1, new byte[0], false, new byte[0], false,
                "cancelled on request before it started", -1, -1), -1);
    }

    /**
     * Hands an assignment back unstarted: stored like any result, so that an agent stopped meanwhile still tells the
     * master, then sent.
     */
    private void handBack(Attempt attempt, Outcome outcome, String why) {
        Log.warn("task " + attempt.assignment.getTaskId() + " handed back to the master (" + outcome + "): " + why);
        sendBack(attempt, outcome, why);
    }

    /** Reports the attempt ended unstarted ({@code outcome}, {@code why}): stored first, as any result, then sent. */
    private void sendBack(Attempt attempt, Outcome outcome, String why) {
        StatusReport report = rejection(attempt.assignment, outcome, why);
        outbox.save(report);
        link.send(report);
    }

    private StatusReport rejection(Assignment assignment, Outcome outcome, String why) {
        return StatusReport.newBuilder()
                .setWorkerId(options.workerId())
                .setTaskId(assignment.getTaskId())
                .setAttemptId(assignment.getAttemptId())
                .setPhase(Phase.FINISHED)
                .setOutcome(outcome)
                .setReason(why)
                .build();
    }

    /**
     * Asks the master for nothing more (waiting a while for its answer, so that what follows is taken as a drained
     * worker's), then gives back every prefetched attempt, RETURNED with {@code reason}.
     */
    private void drainAndReturn(String reason) {
        link.drain(reason, DRAIN_PATIENCE);
        List<Attempt> unstarted;
        synchronized (slotLock) {
            unstarted = new ArrayList<>(prefetched);
            prefetched.clear();
        }
        for (Attempt attempt : unstarted) {
            handBack(attempt, Outcome.RETURNED, reason);
        }
    }

    /**
     * This agent could not start a process for a reason of its own (none left for its user, no file descriptor, no
     * thread): every task it took now would fail the same way. It asks the master for no more (a drain, with the
     * reason the operator then sees on the worker), hands back whatever it holds unstarted or still receives, and tries
     * every {@link #SPAWN_PROBE_INTERVAL} to start a process; once one starts, it connects to the master again, which
     * takes it afresh, undrained.
     *
     * @return whether this is news: the caller then drains and hands back
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
            timer.schedule(this::probeSpawn, SPAWN_PROBE_INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
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
     * Graceful stop: no new work, prefetched attempts given back, running commands get the grace period, the rest are
     * killed and reported.
     *
     * @return false if a shutdown was already under way
     */
    boolean shutdown() {
        if (!shuttingDown.compareAndSet(false, true)) {
            return false;
        }
        Log.info("shutting down: no new tasks; " + running.size() + " running task(s) get up to "
                + options.shutdownGrace().toSeconds() + " s to finish");
        drainAndReturn(SHUTTING_DOWN);
        slots.shutdown();
        try {
            if (!slots.awaitTermination(options.shutdownGrace().toMillis(), TimeUnit.MILLISECONDS)) {
                Log.warn("grace period over: killing " + running.size() + " task(s)");
                running.values().forEach(attempt -> {
                    CommandRun run = attempt.run;
                    if (run != null) {
                        run.kill("the agent shut down before the command finished");
                    }
                });
                slots.awaitTermination(options.killGrace().toMillis() + 5000, TimeUnit.MILLISECONDS);
            }
            // The last results: the master has a moment to take them before the link closes.
            long until = System.nanoTime() + SHUTDOWN_REPORT_PATIENCE.toNanos();
            while (link.registered() && link.unacknowledged() > 0 && System.nanoTime() < until) {
                Thread.sleep(10);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        killEverything();
        timer.shutdown();
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
        running.values().forEach(attempt -> {
            CommandRun run = attempt.run;
            if (run != null) {
                run.kill("the agent exited");
            }
        });
    }

    private StatusReport progress(Assignment assignment, Phase phase) {
        return StatusReport.newBuilder()
                .setWorkerId(options.workerId())
                .setTaskId(assignment.getTaskId())
                .setAttemptId(assignment.getAttemptId())
                .setPhase(phase)
                .build();
    }

    /** @param ranNanos how long the process ran; negative when none ran */
    private StatusReport finished(Assignment assignment, CommandResult result, long ranNanos) {
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
        if (ranNanos >= 0) {
            report.setRanMicros(TimeUnit.NANOSECONDS.toMicros(ranNanos));
        }
        return report.build();
    }

    private static String version() {
        String version = WorkerAgent.class.getPackage().getImplementationVersion();
        return version == null ? "dev" : version;
    }
}
