package io.taskgrid.agent;

import com.google.protobuf.ByteString;
import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.Phase;
import io.taskgrid.proto.v1.RunningAttempt;
import io.taskgrid.proto.v1.StatusReport;
import sun.misc.Signal;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The worker agent: takes assignments from the master, runs each on one of its slots, reports how it went.
 *
 * <p>On SIGTERM or SIGINT it asks the master for nothing more, lets running commands finish within the shutdown
 * grace, kills what is left (whole process trees), reports every one of them, and exits 0.
 */
public final class WorkerAgent {

    /** How long a finished result is retried while the master is unreachable (for example, while it restarts). */
    private static final Duration RESULT_PATIENCE = Duration.ofMinutes(5);
    private static final Duration PROGRESS_PATIENCE = Duration.ofSeconds(10);
    private static final Duration SHUTDOWN_REPORT_PATIENCE = Duration.ofSeconds(10);

    private final AgentOptions options;
    private final MasterLink link;
    private final ExecutorService slots;
    /** attempt id to its run */
    private final Map<String, CommandRun> running = new ConcurrentHashMap<>();
    /** attempt id to task id, for telling a new connection what still runs here */
    private final Map<String, String> runningTasks = new ConcurrentHashMap<>();
    private final AtomicInteger busy = new AtomicInteger();
    private final AtomicBoolean shuttingDown = new AtomicBoolean();

    WorkerAgent(AgentOptions options) {
        this.options = options;
        this.link = new MasterLink(options, version());
        AtomicInteger n = new AtomicInteger();
        this.slots = Executors.newFixedThreadPool(options.slots(), r -> {
            Thread t = new Thread(r, "slot-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    public static void main(String[] args) {
        AgentOptions options;
        try {
            options = AgentOptions.parse(args);
        } catch (AgentOptions.HelpRequested e) {
            System.out.print(AgentOptions.USAGE);
            System.exit(0);
            return;
        } catch (AgentOptions.UsageException e) {
            System.err.println("worker-agent: " + e.getMessage());
            System.err.println();
            System.err.print(AgentOptions.USAGE);
            System.exit(2);
            return;
        }
        WorkerAgent agent = new WorkerAgent(options);
        Thread linkThread = new Thread(agent::runLink, "master-link");
        Runnable shutdown = () -> {
            if (agent.shutdown()) {
                System.exit(0);
            }
        };
        Signal.handle(new Signal("TERM"), signal -> startShutdown(shutdown));
        Signal.handle(new Signal("INT"), signal -> startShutdown(shutdown));
        // Any other way out of the JVM still takes the process trees along.
        Runtime.getRuntime().addShutdownHook(new Thread(agent::killEverything, "kill-on-exit"));
        Log.info("worker " + options.workerId() + " (" + options.slots() + " slot(s)) starting; master "
                + link(agent).target());
        linkThread.start();
    }

    private static void startShutdown(Runnable shutdown) {
        Thread thread = new Thread(shutdown, "shutdown");
        // The signal thread is a daemon and so would be its children: the JVM would exit mid-shutdown.
        thread.setDaemon(false);
        thread.start();
    }

    private static MasterLink link(WorkerAgent agent) {
        return agent.link;
    }

    void runLink() {
        link.run(this::accept, () -> runningTasks.entrySet().stream()
                .map(e -> RunningAttempt.newBuilder().setAttemptId(e.getKey()).setTaskId(e.getValue()).build())
                .toList());
    }

    /** Called on the stream's thread; never blocks it. */
    void accept(Assignment assignment) {
        if (shuttingDown.get()) {
            reject(assignment, "the agent is shutting down");
            return;
        }
        if (busy.incrementAndGet() > options.slots()) {
            busy.decrementAndGet();
            reject(assignment, "the agent has no free slot");
            return;
        }
        try {
            slots.execute(() -> {
                try {
                    execute(assignment);
                } finally {
                    busy.decrementAndGet();
                }
            });
        } catch (RejectedExecutionException e) {
            busy.decrementAndGet();
            reject(assignment, "the agent is shutting down");
        }
    }

    private void execute(Assignment assignment) {
        String taskId = assignment.getTaskId();
        CommandRun run = new CommandRun(assignment, options.killGrace());
        running.put(assignment.getAttemptId(), run);
        runningTasks.put(assignment.getAttemptId(), taskId);
        try {
            // Not waited for: nothing depends on it, and the command should not wait a round trip to start.
            link.reportAsync(progress(assignment, Phase.ACCEPTED));
            Log.info("task " + taskId + " attempt " + assignment.getAttemptId() + " starting");
            CommandResult result = run.run(() -> link.report(progress(assignment, Phase.STARTED), PROGRESS_PATIENCE));
            Log.info("task " + taskId + " finished: " + result.outcome()
                    + (result.outcome() == Outcome.EXITED ? " with exit code " + result.exitCode() : "")
                    + (result.reason() == null ? "" : " (" + result.reason() + ")"));
            Duration patience = shuttingDown.get() ? SHUTDOWN_REPORT_PATIENCE : RESULT_PATIENCE;
            if (!link.report(finished(assignment, result), patience)) {
                Log.error("could not report the result of task " + taskId + " to the master; it is dropped");
            }
        } finally {
            running.remove(assignment.getAttemptId());
            runningTasks.remove(assignment.getAttemptId());
        }
    }

    private void reject(Assignment assignment, String why) {
        Log.warn("task " + assignment.getTaskId() + " handed back to the master: " + why);
        Thread t = new Thread(() -> link.report(StatusReport.newBuilder()
                .setWorkerId(options.workerId())
                .setTaskId(assignment.getTaskId())
                .setAttemptId(assignment.getAttemptId())
                .setPhase(Phase.FINISHED)
                .setOutcome(Outcome.REJECTED)
                .setReason(why)
                .build(), SHUTDOWN_REPORT_PATIENCE), "reject-" + assignment.getTaskId());
        t.setDaemon(true);
        t.start();
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
        link.drain();
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
        link.stop();
        Log.info("stopped");
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
        return report.build();
    }

    private static String version() {
        String version = WorkerAgent.class.getPackage().getImplementationVersion();
        return version == null ? "dev" : version;
    }
}
