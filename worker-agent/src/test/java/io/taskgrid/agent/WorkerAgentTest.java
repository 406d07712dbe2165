package io.taskgrid.agent;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.taskgrid.proto.v1.AssignTaskRequest;
import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.OutputChunk;
import io.taskgrid.proto.v1.Phase;
import io.taskgrid.proto.v1.RunningAttempt;
import io.taskgrid.proto.v1.StatusReport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The agent against an in-process master (grpc-java's route_guide way): registration, running and reporting, slot
 * accounting, claims on reconnect and the outbox, without a real master or network. Commands are real /bin/sh.
 */
class WorkerAgentTest {

    private static final String TOKEN = "tgj_unit-test-token";

    @TempDir
    Path stateDir;

    private final FakeMaster master = new FakeMaster();
    private Server server;
    private WorkerAgent agent;
    private Thread linkThread;
    /** What runLink returned: the exit code when the link ended the agent. */
    private CompletableFuture<Optional<ExitCode>> linkEnded;
    private StateDirectory state;
    private Outbox outbox;

    @BeforeEach
    void startMaster() throws Exception {
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name).directExecutor()
                .addService(ServerInterceptors.intercept(master, master.headerRecorder())).build().start();
        this.serverName = name;
    }

    private String serverName;

    @AfterEach
    void stop() throws Exception {
        stopAgent();
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    /** As SIGTERM would, and then the process's end: the state directory is free for the next agent. */
    private void stopAgent() throws InterruptedException {
        if (agent != null) {
            agent.shutdown();
            linkThread.join(10_000);
            agent = null;
        }
        if (state != null) {
            state.close();
            state = null;
        }
    }

    private void startAgent(int slots) throws Exception {
        startAgent(slots, null);
    }

    private void startAgent(int slots, RunAs runAs) throws Exception {
        launchAgent(slots, runAs, List.of("--id", "w-test"));
    }

    /** Starts an agent as main does: the state directory locked, the worker id resolved by it, then the link. */
    private void launchAgent(int slots, RunAs runAs, List<String> identity) throws Exception {
        List<String> args = new ArrayList<>(identity);
        args.addAll(List.of("--slots", Integer.toString(slots), "--reconnect-delay", "50ms",
                "--max-reconnect-delay", "200ms", "--shutdown-grace", "5s", "--kill-grace", "1s",
                "--state-dir", stateDir.toString(), "--token", TOKEN));
        AgentOptions given = AgentOptions.parse(args.toArray(String[]::new));
        state = StateDirectory.open(given.stateDir());
        AgentOptions options = given.withWorkerId(state.workerId(given.workerId()));
        ManagedChannel channel = InProcessChannelBuilder.forName(serverName).directExecutor().build();
        MasterLink link = new MasterLink(channel, new JoinTokenCredentials(TOKEN, false), options.workerId(),
                options.slots(), options.labels(), "test", new Backoff(options.reconnectDelay(), options.maxReconnectDelay()),
                serverName, REFUSAL_PATIENCE);
        outbox = state.outbox();
        agent = new WorkerAgent(options, runAs, link, outbox, null);
        CompletableFuture<Optional<ExitCode>> ended = new CompletableFuture<>();
        WorkerAgent started = agent;
        linkThread = new Thread(() -> ended.complete(started.runLink()), "test-link");
        linkEnded = ended;
        linkThread.start();
    }

    @Test
    void registersThenRunsAnAssignmentAndReportsStartedThenItsResult() throws Exception {
        startAgent(1);
        AssignTaskRequest registration = master.nextRegistration();
        assertThat(registration.getWorkerId()).isEqualTo("w-test");
        assertThat(registration.getSlots()).isEqualTo(1);
        assertThat(registration.getSessionId()).isNotBlank();
        assertThat(registration.getRunningList()).isEmpty();

        master.assign("t1", "a1", "echo out; echo err >&2; exit 3");
        StatusReport started = master.nextReport();
        StatusReport finished = master.nextReport();
        assertThat(started.getPhase()).isEqualTo(Phase.STARTED);
        assertThat(finished.getPhase()).isEqualTo(Phase.FINISHED);
        assertThat(finished.getOutcome()).isEqualTo(Outcome.EXITED);
        assertThat(finished.getExitCode()).isEqualTo(3);
        assertThat(finished.getStdout().toStringUtf8()).isEqualTo("out\n");
        assertThat(finished.getStderr().toStringUtf8()).isEqualTo("err\n");
        assertThat(List.of(started, finished)).allSatisfy(report -> {
            assertThat(report.getAttemptId()).isEqualTo("a1");
            assertThat(report.getWorkerId()).isEqualTo("w-test");
            assertThat(report.getSessionId()).isEqualTo(registration.getSessionId());
        });
        assertThat(master.authorizations).isNotEmpty().allMatch(("Bearer " + TOKEN)::equals);
        await().atMost(Duration.ofSeconds(5)).until(() -> outbox.pending().isEmpty());
    }

    @Test
    void anAssignmentBeyondTheSlotsIsHandedBackAndTheRunningOneFinishes() throws Exception {
        startAgent(1);
        master.nextRegistration();
        master.assign("t1", "a1", "sleep 1");
        assertThat(master.nextReport().getPhase()).isEqualTo(Phase.STARTED);
        master.assign("t2", "a2", "true");
        StatusReport handedBack = master.nextReport();
        assertThat(handedBack.getAttemptId()).isEqualTo("a2");
        assertThat(handedBack.getOutcome()).isEqualTo(Outcome.REJECTED);
        assertThat(handedBack.getReason()).contains("no free slot");
        StatusReport finished = master.nextReport();
        assertThat(finished.getAttemptId()).isEqualTo("a1");
        assertThat(finished.getOutcome()).isEqualTo(Outcome.EXITED);

        master.assign("t3", "a3", "true");
        assertThat(master.nextReport().getPhase()).as("the slot is free again").isEqualTo(Phase.STARTED);
    }

    @Test
    void afterTheStreamDropsTheAgentReconnectsAndClaimsWhatStillRuns() throws Exception {
        startAgent(2);
        AssignTaskRequest first = master.nextRegistration();
        master.assign("t1", "a1", "sleep 1");
        assertThat(master.nextReport().getPhase()).isEqualTo(Phase.STARTED);

        master.dropStream();
        AssignTaskRequest again = master.nextRegistration();
        assertThat(again.getSessionId()).as("the same agent process").isEqualTo(first.getSessionId());
        assertThat(again.getRunningList()).extracting(RunningAttempt::getAttemptId).containsExactly("a1");
        StatusReport finished = master.nextReport();
        assertThat(finished.getAttemptId()).isEqualTo("a1");
        assertThat(finished.getOutcome()).isEqualTo(Outcome.EXITED);
    }

    @Test
    void storedResultsAreClaimedAndSentOnceRegisteredAndThoseTheMasterRefusesAreDropped() throws Exception {
        Outbox earlier = new Outbox(stateDir);
        earlier.save(result("t1", "a1"));
        earlier.save(result("t2", "a2"));
        master.refuseClaims = List.of("a2");
        startAgent(1);
        AssignTaskRequest registration = master.nextRegistration();
        assertThat(registration.getRunningList()).extracting(RunningAttempt::getAttemptId)
                .containsExactlyInAnyOrder("a1", "a2");
        StatusReport sent = master.nextReport();
        assertThat(sent.getAttemptId()).isEqualTo("a1");
        assertThat(sent.getSessionId()).isEqualTo(registration.getSessionId());
        await().atMost(Duration.ofSeconds(5)).until(() -> outbox.pending().isEmpty());
        assertThat(master.reports.poll(300, TimeUnit.MILLISECONDS)).as("a2 is never sent").isNull();
    }

    @Test
    void aResultTheMasterCannotTakeYetWaitsInTheOutboxUntilItCan() throws Exception {
        master.verdict = report -> report.getPhase() == Phase.FINISHED
                ? Status.FAILED_PRECONDITION.withDescription("not now") : Status.OK;
        startAgent(1);
        master.nextRegistration();
        master.assign("t1", "a1", "echo kept");
        assertThat(master.nextReport().getPhase()).isEqualTo(Phase.STARTED);
        assertThat(master.nextReport().getPhase()).isEqualTo(Phase.FINISHED);
        assertThat(outbox.pending()).extracting(StatusReport::getAttemptId).containsExactly("a1");

        master.verdict = report -> Status.OK;
        master.dropStream();
        master.nextRegistration();
        StatusReport retried = master.nextReport();
        assertThat(retried.getAttemptId()).isEqualTo("a1");
        assertThat(retried.getStdout().toStringUtf8()).isEqualTo("kept\n");
        await().atMost(Duration.ofSeconds(5)).until(() -> outbox.pending().isEmpty());
    }

    /**
     * Issue 15: an agent without --id, stopped while the master could not take its result, is the same worker when it
     * starts again on its state directory, so the master lets it claim and deliver that result. An agent that named
     * itself anew at each start had its claim refused, and the task ran again.
     */
    @Test
    void anAgentWithoutIdRestartedOnItsStateDirectoryClaimsAndDeliversWhatItStoredUnderItsId() throws Exception {
        master.verdict = report -> report.getPhase() == Phase.FINISHED
                ? Status.FAILED_PRECONDITION.withDescription("not now") : Status.OK;
        launchAgent(1, null, List.of());
        AssignTaskRequest before = master.nextRegistration();
        master.assign("t1", "a1", "echo once");
        assertThat(master.nextReport().getPhase()).isEqualTo(Phase.STARTED);
        assertThat(master.nextReport().getPhase()).isEqualTo(Phase.FINISHED);
        assertThat(outbox.pending()).extracting(StatusReport::getAttemptId).containsExactly("a1");
        stopAgent();

        master.verdict = report -> Status.OK;
        launchAgent(1, null, List.of());
        AssignTaskRequest after = master.nextRegistration();
        assertThat(after.getWorkerId()).as("the same worker").isEqualTo(before.getWorkerId());
        assertThat(after.getSessionId()).as("another process").isNotEqualTo(before.getSessionId());
        assertThat(after.getRunningList()).extracting(RunningAttempt::getAttemptId).containsExactly("a1");
        StatusReport delivered = master.nextReport();
        assertThat(delivered.getAttemptId()).isEqualTo("a1");
        assertThat(delivered.getWorkerId()).isEqualTo(before.getWorkerId());
        assertThat(delivered.getStdout().toStringUtf8()).isEqualTo("once\n");
        await().atMost(Duration.ofSeconds(5)).until(() -> outbox.pending().isEmpty());
    }

    /** How long the agents of these tests wait out refusals of a token the master accepted before (5 min in use). */
    private static final Duration REFUSAL_PATIENCE = Duration.ofSeconds(2);

    @Test
    void aRefusedJoinTokenEndsTheAgentAtOnceInsteadOfRetrying() throws Exception {
        master.refuseToken = true;
        startAgent(1);
        assertThat(linkEnded.get(10, TimeUnit.SECONDS)).contains(ExitCode.JOIN_TOKEN_REFUSED);
        assertThat(master.refusedCalls).as("one try, no drain").containsExactly("AssignTask");
        assertThat(master.registrations).isEmpty();
    }

    /**
     * A token revoked while the agent runs is refused on the next call (here a report; the stream opened before still
     * stands). The master accepted it before, so the agent asks again for a while (a tokens file being rewritten
     * refuses for a moment); refused all along, it stops as SIGTERM would. The task still running gets its grace and
     * runs to its end; no result is lost, both wait in the outbox for an agent the master accepts.
     */
    @Test
    void aJoinTokenRevokedMidLifeStopsTheAgentAsSigtermWouldAndKeepsTheResults() throws Exception {
        startAgent(2);
        master.nextRegistration();
        master.assign("t1", "a1", "sleep 1; echo slow");
        assertThat(master.nextReport().getPhase()).isEqualTo(Phase.STARTED);
        long refusedFrom = System.nanoTime();
        master.refuseToken = true;
        master.assign("t2", "a2", "echo quick");
        assertThat(linkEnded.get(15, TimeUnit.SECONDS)).contains(ExitCode.JOIN_TOKEN_REFUSED);
        assertThat(Duration.ofNanos(System.nanoTime() - refusedFrom)).as("the refusals were waited out first")
                .isGreaterThanOrEqualTo(REFUSAL_PATIENCE);
        assertThat(master.refusedCalls).as("the first refusal was not the stream's").isNotEmpty()
                .first().isNotEqualTo("AssignTask");
        assertThat(master.refusedCalls).as("then it asked again").contains("AssignTask");
        assertThat(outbox.pending()).extracting(StatusReport::getAttemptId, StatusReport::getOutcome,
                StatusReport::getExitCode, r -> r.getStdout().toStringUtf8()).containsExactlyInAnyOrder(
                tuple("a1", Outcome.EXITED, 0, "slow\n"), tuple("a2", Outcome.EXITED, 0, "quick\n"));
    }

    /**
     * A master that refuses for a moment a token it accepted before (its tokens file being rewritten, say) does not
     * end the agent: it asks again, is registered again, and delivers what it holds.
     */
    @Test
    void aMomentsRefusalOfATokenAcceptedBeforeIsWaitedOut() throws Exception {
        startAgent(1);
        master.nextRegistration();
        master.refuseToken = true;
        master.assign("t1", "a1", "echo kept");
        await().atMost(Duration.ofSeconds(5)).until(() -> !master.refusedCalls.isEmpty());
        master.refuseToken = false;
        master.nextRegistration();
        StatusReport finished = master.nextReport();
        while (finished.getPhase() != Phase.FINISHED) {
            finished = master.nextReport();
        }
        assertThat(finished.getStdout().toStringUtf8()).isEqualTo("kept\n");
        assertThat(linkEnded).as("still running").isNotDone();
    }

    @Test
    void aResultTheMasterRefusesForGoodLeavesTheOutbox() throws Exception {
        master.verdict = report -> report.getPhase() == Phase.FINISHED
                ? Status.PERMISSION_DENIED.withDescription("not yours") : Status.OK;
        startAgent(1);
        master.nextRegistration();
        master.assign("t1", "a1", "true");
        master.nextReport();
        assertThat(master.nextReport().getPhase()).isEqualTo(Phase.FINISHED);
        await().atMost(Duration.ofSeconds(5)).until(() -> outbox.pending().isEmpty());
    }

    @Test
    void withRunAsEveryCommandRunsAsThatUser() throws Exception {
        assumeTrue(CommandRunTest.isRoot(), "switching users needs root");
        RunAs nobody = RunAs.resolve("nobody", true);
        startAgent(1, nobody);
        master.nextRegistration();
        master.assign("t1", "a1", "id -u");
        StatusReport finished = master.nextReport();
        while (finished.getPhase() != Phase.FINISHED) {
            finished = master.nextReport();
        }
        assertThat(finished.getOutcome()).isEqualTo(Outcome.EXITED);
        assertThat(finished.getExitCode()).as(finished.getStderr().toStringUtf8()).isZero();
        assertThat(finished.getStdout().toStringUtf8()).isEqualTo(nobody.uid() + "\n");
    }

    private static StatusReport result(String taskId, String attemptId) {
        return StatusReport.newBuilder().setWorkerId("w-test").setTaskId(taskId).setAttemptId(attemptId)
                .setPhase(Phase.FINISHED).setOutcome(Outcome.EXITED).build();
    }

    @Test
    void outputReachesTheMasterWhileTheCommandRunsAndTheResultSaysHowMuchWasPrinted() throws Exception {
        startAgent(1);
        String session = master.nextRegistration().getSessionId();
        master.assign("t1", "a1", "echo one; echo warn >&2; sleep 1; echo two");
        OutputChunk first = master.chunks.poll(5, TimeUnit.SECONDS);
        assertThat(first).isNotNull();
        assertThat(first.getAttemptId()).isEqualTo("a1");
        assertThat(first.getSessionId()).isEqualTo(session);
        assertThat(first.getWorkerId()).isEqualTo("w-test");
        assertThat(master.reports).as("the first output arrives while the command runs")
                .noneMatch(r -> r.getPhase() == Phase.FINISHED);
        StatusReport started = master.nextReport();
        StatusReport finished = master.nextReport();
        assertThat(started.getPhase()).isEqualTo(Phase.STARTED);
        assertThat(finished.getStdout().toStringUtf8()).isEqualTo("one\ntwo\n");
        assertThat(finished.getStdoutTotalBytes()).isEqualTo(8);
        assertThat(finished.getStderrTotalBytes()).isEqualTo(5);
        assertThat(master.output("a1", "STDOUT")).as("all of it streamed before the result").isEqualTo("one\ntwo\n");
        assertThat(master.output("a1", "STDERR")).isEqualTo("warn\n");
    }

    @Test
    void afterAnOutageTheAgentSendsAgainFromTheLastAcknowledgedOffset() throws Exception {
        startAgent(1);
        master.nextRegistration();
        master.assign("t1", "a1", "echo one; sleep 2; echo two");
        master.ackOutput = false;
        OutputChunk unacknowledged = master.chunks.poll(5, TimeUnit.SECONDS);
        assertThat(unacknowledged.getOffset()).isZero();
        master.ackOutput = true;
        master.dropOutputCall();
        master.dropStream();
        master.nextRegistration();
        OutputChunk resent = master.chunks.poll(5, TimeUnit.SECONDS);
        assertThat(resent.getOffset()).as("from the last acknowledged offset").isZero();
        assertThat(resent.getData().toStringUtf8()).startsWith("one\n");
        StatusReport finished = master.nextReport();
        while (finished.getPhase() != Phase.FINISHED) {
            finished = master.nextReport();
        }
        assertThat(master.output("a1", "STDOUT")).isEqualTo("one\ntwo\n");
        assertThat(master.chunks).as("acknowledged bytes are not sent again").allSatisfy(c ->
                assertThat(c.getOffset()).isEqualTo(4));
    }

    @TempDir
    Path work;

    /**
     * An allow-list decides which commands run, and a task's environment must not decide it for it: BASH_ENV makes
     * bash run a script of the task's choosing before the allowed command. Such a task fails, without starting, and
     * its reason names the variable.
     */
    @Test
    void anAllowedCommandDoesNotRunCodeItsTaskNamesInTheEnvironment() throws Exception {
        assumeTrue(java.nio.file.Files.isExecutable(Path.of("/bin/bash")), "bash is installed");
        Path marker = work.resolve("ran");
        Path script = java.nio.file.Files.writeString(work.resolve("env.sh"), "touch " + marker + "\n");
        launchAgent(1, null, List.of("--id", "w-test", "--allow", "bash -c true"));
        master.nextRegistration();
        master.assign("t1", "a1", "bash -c true", java.util.Map.of("BASH_ENV", script.toString()));
        StatusReport report = master.nextReport();
        assertThat(marker).as("the script BASH_ENV named ran").doesNotExist();
        assertThat(report.getPhase()).as("nothing started").isEqualTo(Phase.FINISHED);
        assertThat(report.getOutcome()).isEqualTo(Outcome.FAILED_TO_START);
        assertThat(report.getReason()).contains("BASH_ENV").contains("--allow-env");
    }

    /**
     * What the operator allows (--allow-env) reaches the allowed command; of the agent's own environment nothing but
     * the base passes: the build gives this JVM a BASH_ENV (and a join token) as an operator could give the agent.
     */
    @Test
    void anAllowedCommandGetsTheVariablesTheOperatorAllowsAndNothingElseOfTheAgents() throws Exception {
        assertThat(System.getenv("BASH_ENV")).as("set up by the build").isNotNull();
        launchAgent(1, null, List.of("--id", "w-test", "--allow", "env", "--allow-env", "GREETING,OTHER"));
        master.nextRegistration();
        master.assign("t1", "a1", "env", java.util.Map.of("GREETING", "hi"));
        StatusReport finished = master.nextReport();
        while (finished.getPhase() != Phase.FINISHED) {
            finished = master.nextReport();
        }
        assertThat(finished.getOutcome()).isEqualTo(Outcome.EXITED);
        List<String> names = finished.getStdout().toStringUtf8().lines()
                .map(line -> line.substring(0, line.indexOf('='))).toList();
        assertThat(names).contains("GREETING", "PATH").doesNotContain("BASH_ENV", "TASKGRID_JOIN_TOKEN")
                .allMatch(name -> TaskEnvironment.BASE.contains(name) || name.startsWith("LC_")
                        || name.equals("GREETING") || name.equals("PWD"), "base, LC_*, allowed, or the shell's PWD");
    }

    @Test
    void aShuttingDownAgentTellsTheMasterWhyItDrains() throws Exception {
        startAgent(1);
        AssignTaskRequest registration = master.nextRegistration();
        stopAgent();
        io.taskgrid.proto.v1.DrainRequest drain = master.drains.poll(10, TimeUnit.SECONDS);
        assertThat(drain).isNotNull();
        assertThat(drain.getSessionId()).isEqualTo(registration.getSessionId());
        assertThat(drain.getReason()).isEqualTo("the agent is shutting down");
    }

    @Test
    void aMasterOfAnEarlierReleaseGetsTheOutputWithTheResultAsBefore() throws Exception {
        master.outputSupported = false;
        startAgent(1);
        master.nextRegistration();
        master.assign("t1", "a1", "echo hi");
        StatusReport finished = master.nextReport();
        while (finished.getPhase() != Phase.FINISHED) {
            finished = master.nextReport();
        }
        assertThat(finished.getStdout().toStringUtf8()).isEqualTo("hi\n");
        assertThat(master.chunks).isEmpty();
    }
}
