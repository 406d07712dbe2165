package io.taskgrid.agent;

import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.taskgrid.proto.Protocol;
import io.taskgrid.proto.v1.Hello;
import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.OutputChunk;
import io.taskgrid.proto.v1.Phase;
import io.taskgrid.proto.v1.ProtocolVersion;
import io.taskgrid.proto.v1.RunningAttempt;
import io.taskgrid.proto.v1.StatusReport;
import io.taskgrid.proto.v1.Verdict;
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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The agent against an in-process master speaking protocol 2 (grpc-java's route_guide way): the Hello, running and
 * reporting on the one stream, prefetch, slot accounting, claims on reconnect, acknowledgements and the outbox, without
 * a real master or network. Commands are real /bin/sh.
 */
class WorkerAgentTest {

    private static final String TOKEN = "tgj_unit-test-token";
    /** How often these agents send again what the master did not take (15 s in use). */
    private static final Duration OUTBOX_RETRY = Duration.ofMillis(300);

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
    private String serverName;
    /** Servers a test started besides the first master's, stopped after it. */
    private final List<Server> moreServers = new ArrayList<>();

    @BeforeEach
    void startMaster() throws Exception {
        serverName = InProcessServerBuilder.generateName();
        server = serve(master, serverName);
    }

    /** Starts {@code fake} as the master listening at {@code name}. */
    private static Server serve(FakeMaster fake, String name) throws java.io.IOException {
        return InProcessServerBuilder.forName(name).directExecutor()
                .addService(ServerInterceptors.intercept(fake, fake.headerRecorder())).build().start();
    }

    @AfterEach
    void stop() throws Exception {
        stopAgent();
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        for (Server more : moreServers) {
            more.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
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

    private void startAgent(int slots, String... more) throws Exception {
        List<String> args = new ArrayList<>(List.of("--id", "w-test"));
        args.addAll(List.of(more));
        launchAgent(slots, null, args);
    }

    /** Starts an agent as main does: the state directory locked, the worker id resolved by it, then the link. */
    private void launchAgent(int slots, RunAs runAs, List<String> identity) throws Exception {
        launchAgent(slots, runAs, identity, List.of(serverName));
    }

    /**
     * Like {@link #launchAgent(int, RunAs, List)}, with the masters at these in-process names, tried in this order
     * (as --master lists them); {@code identity} may give --reconnect-delay and --max-reconnect-delay.
     */
    private void launchAgent(int slots, RunAs runAs, List<String> identity, List<String> masters) throws Exception {
        List<String> args = new ArrayList<>(identity);
        if (!identity.contains("--reconnect-delay")) {
            args.addAll(List.of("--reconnect-delay", "50ms", "--max-reconnect-delay", "200ms"));
        }
        args.addAll(List.of("--slots", Integer.toString(slots), "--shutdown-grace", "5s", "--kill-grace", "1s",
                "--state-dir", stateDir.toString(), "--token", TOKEN));
        AgentOptions given = AgentOptions.parse(args.toArray(String[]::new));
        state = StateDirectory.open(given.stateDir());
        AgentOptions options = given.withWorkerId(state.workerId(given.workerId()));
        // Not a direct executor: the agent's handlers run on a thread of the channel's, as on a real connection, not
        // inside the master's write.
        List<MasterLink.Target> targets = masters.stream()
                .map(name -> new MasterLink.Target(name, () -> InProcessChannelBuilder.forName(name).build()))
                .toList();
        MasterLink link = new MasterLink(targets, new JoinTokenCredentials(TOKEN, false), options.workerId(),
                options.slots(), options.prefetch(), options.labels(), "test",
                new Backoff(options.reconnectDelay(), options.maxReconnectDelay()), REFUSAL_PATIENCE);
        outbox = state.outbox();
        agent = new WorkerAgent(options, runAs, link, outbox, null, OUTBOX_RETRY);
        CompletableFuture<Optional<ExitCode>> ended = new CompletableFuture<>();
        WorkerAgent started = agent;
        linkThread = new Thread(() -> ended.complete(started.runLink()), "test-link");
        linkEnded = ended;
        linkThread.start();
    }

    /** The next FINISHED report, skipping STARTED ones. */
    private StatusReport nextFinished() throws InterruptedException {
        return nextFinished(master);
    }

    /** The next FINISHED report {@code to} received, skipping STARTED ones. */
    private static StatusReport nextFinished(FakeMaster to) throws InterruptedException {
        StatusReport report = to.nextReport();
        while (report.getPhase() != Phase.FINISHED) {
            report = to.nextReport();
        }
        return report;
    }

    @Test
    void saysHelloThenReportsAShortTaskOnlyWhenItEndsWithHowLongItRanAndItsOutput() throws Exception {
        startAgent(2);
        Hello hello = master.nextHello();
        assertThat(hello.getProtocol()).isEqualTo(ProtocolVersion.PROTOCOL_VERSION_2);
        assertThat(hello.getWorkerId()).isEqualTo("w-test");
        assertThat(hello.getSlots()).isEqualTo(2);
        assertThat(hello.getPrefetch()).as("one per slot by default").isEqualTo(2);
        assertThat(hello.getSessionId()).isNotBlank();
        assertThat(hello.getHeldList()).isEmpty();

        master.assign("t1", "a1", "echo out; echo err >&2; exit 3");
        StatusReport finished = master.nextReport();
        if (finished.getPhase() == Phase.STARTED) {
            // Only a process that really ran past the delay (a loaded machine, a cold JVM) may be reported STARTED.
            finished = master.nextReport();
            assertThat(finished.getRanMicros()).as("STARTED only past the delay")
                    .isGreaterThanOrEqualTo(Protocol.STARTED_REPORT_DELAY_MILLIS * 1000L);
        }
        assertThat(finished.getPhase()).isEqualTo(Phase.FINISHED);
        assertThat(finished.getOutcome()).isEqualTo(Outcome.EXITED);
        assertThat(finished.getExitCode()).isEqualTo(3);
        assertThat(finished.getStdout().toStringUtf8()).isEqualTo("out\n");
        assertThat(finished.getStderr().toStringUtf8()).isEqualTo("err\n");
        assertThat(finished.getStdoutTotalBytes()).isEqualTo(4);
        assertThat(finished.hasRanMicros()).isTrue();
        assertThat(finished.getRanMicros()).isPositive().isLessThan(5_000_000);
        assertThat(finished.getSeq()).isPositive();
        assertThat(finished.getAttemptId()).isEqualTo("a1");
        assertThat(finished.getWorkerId()).isEqualTo("w-test");
        assertThat(finished.getSessionId()).isEqualTo(hello.getSessionId());
        assertThat(master.authorizations).isNotEmpty().allMatch(("Bearer " + TOKEN)::equals);
        await().atMost(Duration.ofSeconds(5)).until(() -> outbox.pending().isEmpty());
        assertThat(master.reports.poll(300, TimeUnit.MILLISECONDS)).as("nothing after the FINISHED").isNull();

        // Warm now: most quick tasks end within the delay, and those are reported FINISHED only.
        int quick = 0;
        for (int i = 0; i < 5; i++) {
            master.assign("tq" + i, "q" + i, "true");
            StatusReport report = master.nextReport();
            if (report.getPhase() == Phase.FINISHED) {
                quick++;
            } else {
                assertThat(nextFinished().getRanMicros()).isGreaterThanOrEqualTo(
                        Protocol.STARTED_REPORT_DELAY_MILLIS * 1000L);
            }
        }
        assertThat(quick).as("`true` without a STARTED report").isGreaterThanOrEqualTo(3);
        assertThat(master.outputCalls.get()).as("small output travels in the report only").isZero();
    }

    @Test
    void aTaskStillRunningAfterTheDelayIsReportedStartedFirst() throws Exception {
        startAgent(1);
        master.nextHello();
        master.assign("t1", "a1", "sleep 1");
        StatusReport started = master.nextReport();
        assertThat(started.getPhase()).isEqualTo(Phase.STARTED);
        assertThat(started.getAttemptId()).isEqualTo("a1");
        StatusReport finished = master.nextReport();
        assertThat(finished.getPhase()).isEqualTo(Phase.FINISHED);
        assertThat(finished.getRanMicros()).isBetween(900_000L, 5_000_000L);
        assertThat(finished.getSeq()).as("unique per stream").isNotEqualTo(started.getSeq());
    }

    @Test
    void aFreedSlotStartsThePrefetchedTaskByItselfAndMoreThanSlotsPlusPrefetchIsHandedBack() throws Exception {
        Path second = work.resolve("second-ran");
        startAgent(1, "--prefetch", "1");
        master.nextHello();
        master.assign(FakeMaster.assignment("t1", "a1", "sleep 0.5; echo first"),
                FakeMaster.assignment("t2", "a2", "echo second; touch " + second),
                FakeMaster.assignment("t3", "a3", "true"));
        StatusReport handedBack = nextFinished();
        assertThat(handedBack.getAttemptId()).as("the third is one too many").isEqualTo("a3");
        assertThat(handedBack.getOutcome()).isEqualTo(Outcome.REJECTED);
        assertThat(handedBack.getReason()).contains("no free slot");
        assertThat(handedBack.hasRanMicros()).isFalse();
        assertThat(second).as("held, not started, while the slot is busy").doesNotExist();

        StatusReport first = nextFinished();
        assertThat(first.getAttemptId()).isEqualTo("a1");
        // The master says nothing more: the agent starts the held one the moment the slot frees.
        StatusReport then = nextFinished();
        assertThat(then.getAttemptId()).isEqualTo("a2");
        assertThat(then.getOutcome()).isEqualTo(Outcome.EXITED);
        assertThat(then.getStdout().toStringUtf8()).isEqualTo("second\n");
        assertThat(second).exists();
    }

    @Test
    void aPrefetchedTaskTheMasterCancelsIsNeverStartedAndReportedCancelledAtOnce() throws Exception {
        Path marker = work.resolve("cancelled-ran");
        startAgent(1, "--prefetch", "1");
        master.nextHello();
        master.assign(FakeMaster.assignment("t1", "a1", "sleep 1"),
                FakeMaster.assignment("t2", "a2", "touch " + marker));
        assertThat(master.nextReport().getPhase()).isEqualTo(Phase.STARTED);
        master.cancel("t2", "a2");
        StatusReport cancelled = master.nextReport();
        assertThat(cancelled.getAttemptId()).isEqualTo("a2");
        assertThat(cancelled.getPhase()).isEqualTo(Phase.FINISHED);
        assertThat(cancelled.getOutcome()).isEqualTo(Outcome.CANCELLED);
        assertThat(cancelled.hasRanMicros()).as("nothing ran").isFalse();
        StatusReport first = master.nextReport();
        assertThat(first.getAttemptId()).isEqualTo("a1");
        assertThat(first.getOutcome()).isEqualTo(Outcome.EXITED);
        assertThat(master.reports.poll(500, TimeUnit.MILLISECONDS)).isNull();
        assertThat(marker).as("the cancelled task never ran").doesNotExist();
    }

    @Test
    void whatTheMasterAsksBackIsReturnedIfHeldUnstartedAndRunsOnIfStarted() throws Exception {
        Path marker = work.resolve("given-back-ran");
        startAgent(1, "--prefetch", "1");
        master.nextHello();
        master.assign(FakeMaster.assignment("t1", "a1", "sleep 1"),
                FakeMaster.assignment("t2", "a2", "touch " + marker));
        assertThat(master.nextReport().getPhase()).isEqualTo(Phase.STARTED);
        master.giveBack("a1", "a2", "not-held");
        StatusReport returned = master.nextReport();
        assertThat(returned.getAttemptId()).isEqualTo("a2");
        assertThat(returned.getPhase()).isEqualTo(Phase.FINISHED);
        assertThat(returned.getOutcome()).isEqualTo(Outcome.RETURNED);
        assertThat(returned.hasRanMicros()).as("nothing ran").isFalse();
        StatusReport first = master.nextReport();
        assertThat(first.getAttemptId()).as("the started one runs on").isEqualTo("a1");
        assertThat(first.getOutcome()).isEqualTo(Outcome.EXITED);
        assertThat(master.reports.poll(500, TimeUnit.MILLISECONDS)).isNull();
        assertThat(marker).as("the given-back task never ran here").doesNotExist();
    }

    @Test
    void aRunningTaskTheMasterCancelsIsStoppedAndReportedCancelled() throws Exception {
        startAgent(1);
        master.nextHello();
        master.assign("t1", "a1", "sleep 30");
        assertThat(master.nextReport().getPhase()).isEqualTo(Phase.STARTED);
        master.cancel("t1", "a1");
        StatusReport cancelled = master.nextReport();
        assertThat(cancelled.getOutcome()).isEqualTo(Outcome.CANCELLED);
        assertThat(cancelled.hasRanMicros()).as("a process ran").isTrue();
    }

    @Test
    void aShuttingDownAgentDrainsWithItsReasonThenReturnsWhatItHeldUnstarted() throws Exception {
        Path marker = work.resolve("returned-ran");
        startAgent(1, "--prefetch", "1");
        master.nextHello();
        master.assign(FakeMaster.assignment("t1", "a1", "sleep 1"),
                FakeMaster.assignment("t2", "a2", "touch " + marker));
        assertThat(master.nextReport().getPhase()).isEqualTo(Phase.STARTED);
        stopAgent();
        assertThat(master.drains).extracting(io.taskgrid.proto.v1.DrainRequest::getReason)
                .containsExactly("the agent is shutting down");
        assertThat(master.events).containsSubsequence("drain", "report a2 FINISHED RETURNED",
                "report a1 FINISHED EXITED");
        StatusReport returned = master.reports.stream().filter(r -> r.getAttemptId().equals("a2")).findFirst()
                .orElseThrow();
        assertThat(returned.getReason()).isEqualTo("the agent is shutting down");
        assertThat(returned.hasRanMicros()).isFalse();
        assertThat(marker).as("never started").doesNotExist();
    }

    @Test
    void afterTheStreamEndsTheNextHelloNamesWhatRunsAndWhatIsHeldAndTheHeldOneStillRuns() throws Exception {
        startAgent(1, "--prefetch", "1");
        Hello first = master.nextHello();
        master.assign(FakeMaster.assignment("t1", "a1", "sleep 1"), FakeMaster.assignment("t2", "a2", "echo held"));
        assertThat(master.nextReport().getPhase()).isEqualTo(Phase.STARTED);

        master.dropStream();
        Hello again = master.nextHello();
        assertThat(again.getSessionId()).as("the same agent process").isEqualTo(first.getSessionId());
        assertThat(again.getHeldList()).extracting(RunningAttempt::getAttemptId).containsExactlyInAnyOrder("a1", "a2");
        assertThat(nextFinished().getAttemptId()).isEqualTo("a1");
        StatusReport held = nextFinished();
        assertThat(held.getAttemptId()).isEqualTo("a2");
        assertThat(held.getStdout().toStringUtf8()).isEqualTo("held\n");
    }

    @Test
    void aPrefetchedAttemptTheMasterRefusesOnReconnectIsNeverStarted() throws Exception {
        Path marker = work.resolve("refused-ran");
        startAgent(1, "--prefetch", "1");
        master.nextHello();
        master.assign(FakeMaster.assignment("t1", "a1", "sleep 1"),
                FakeMaster.assignment("t2", "a2", "touch " + marker));
        assertThat(master.nextReport().getPhase()).isEqualTo(Phase.STARTED);
        master.refuseClaims = List.of("a2");
        master.dropStream();
        master.nextHello();
        assertThat(nextFinished().getAttemptId()).isEqualTo("a1");
        assertThat(master.reports.poll(500, TimeUnit.MILLISECONDS)).isNull();
        assertThat(marker).doesNotExist();
    }

    /**
     * Between two streams the agent does not know whether the master gave its attempts up (lostAfter) and ran them
     * elsewhere: a prefetched task must not start then, and one the new Registered names as no longer current never
     * starts at all. Red before: the freed slot started it while the agent was cut off.
     */
    @Test
    void aPrefetchedTaskWaitsForARegisteredStreamAndOneTheMasterGaveUpOnNeverStarts() throws Exception {
        Path marker = work.resolve("stale-ran");
        startAgent(1, "--prefetch", "1");
        master.nextHello();
        master.assign(FakeMaster.assignment("t1", "a1", "sleep 1"),
                FakeMaster.assignment("t2", "a2", "touch " + marker));
        assertThat(master.nextReport().getPhase()).isEqualTo(Phase.STARTED);
        master.staleClaims = List.of("a2");
        master.holdRegistered = true;
        master.dropStream();
        assertThat(master.nextHello().getHeldList()).extracting(RunningAttempt::getAttemptId)
                .containsExactlyInAnyOrder("a1", "a2");
        // a1 ends meanwhile and frees its slot; with no stream registered, a2 waits.
        TimeUnit.MILLISECONDS.sleep(2500);
        assertThat(marker).as("not started while no stream is registered").doesNotExist();
        master.releaseRegistered();
        List<StatusReport> finished = List.of(nextFinished(), nextFinished());
        assertThat(finished).extracting(StatusReport::getAttemptId).containsExactlyInAnyOrder("a1", "a2");
        StatusReport stale = finished.stream().filter(r -> r.getAttemptId().equals("a2")).findFirst().orElseThrow();
        assertThat(stale.getOutcome()).isEqualTo(Outcome.CANCELLED);
        assertThat(stale.hasRanMicros()).isFalse();
        TimeUnit.MILLISECONDS.sleep(500);
        assertThat(marker).as("never started").doesNotExist();
    }

    /**
     * A frozen agent's stream can look alive after the thaw while the master gave its attempts up: after standing
     * still it connects afresh before starting anything it held. Red before: the held task started at once.
     */
    @Test
    void anAgentThatStoodStillConnectsAfreshBeforeStartingWhatItHeld() throws Exception {
        Path marker = work.resolve("held-after-pause");
        startAgent(1, "--prefetch", "1");
        master.nextHello();
        master.assign(FakeMaster.assignment("t1", "a1", "sleep 1"),
                FakeMaster.assignment("t2", "a2", "touch " + marker));
        assertThat(master.nextReport().getPhase()).isEqualTo(Phase.STARTED);
        master.staleClaims = List.of("a2");
        master.holdRegistered = true;
        agent.pretendPaused(WorkerAgent.PAUSE.multipliedBy(2));
        assertThat(master.nextHello().getHeldList()).as("a new stream, naming what it holds")
                .extracting(RunningAttempt::getAttemptId).contains("a2");
        TimeUnit.MILLISECONDS.sleep(1500);
        assertThat(marker).as("not started before the new stream is registered").doesNotExist();
        master.releaseRegistered();
        StatusReport stale = nextFinished();
        while (!stale.getAttemptId().equals("a2")) {
            stale = nextFinished();
        }
        assertThat(stale.getOutcome()).isEqualTo(Outcome.CANCELLED);
        TimeUnit.MILLISECONDS.sleep(500);
        assertThat(marker).doesNotExist();
    }

    @Test
    void storedResultsAreClaimedAndSentInOneMessageOnceRegisteredAndThoseTheMasterRefusesAreDropped()
            throws Exception {
        Outbox earlier = new Outbox(stateDir);
        earlier.save(result("t1", "a1"));
        earlier.save(result("t2", "a2"));
        earlier.save(result("t3", "a3"));
        earlier.save(result("t4", "a4"));
        master.refuseClaims = List.of("a2");
        startAgent(1);
        Hello hello = master.nextHello();
        assertThat(hello.getHeldList()).extracting(RunningAttempt::getAttemptId)
                .containsExactlyInAnyOrder("a1", "a2", "a3", "a4");
        List<StatusReport> sent = List.of(master.nextReport(), master.nextReport(), master.nextReport());
        assertThat(sent).extracting(StatusReport::getAttemptId).containsExactly("a1", "a3", "a4");
        assertThat(sent).allMatch(r -> r.getSessionId().equals(hello.getSessionId()));
        assertThat(master.reportBatches).as("one Reports message")
                .containsExactly(List.of("a1 FINISHED", "a3 FINISHED", "a4 FINISHED"));
        await().atMost(Duration.ofSeconds(5)).until(() -> outbox.pending().isEmpty());
        assertThat(master.reports.poll(300, TimeUnit.MILLISECONDS)).as("a2 is never sent").isNull();
    }

    @Test
    void reportsReadyWhileTheWriterIsBusyGoOutTogetherInOneMessage() throws Exception {
        startAgent(4);
        master.nextHello();
        CountDownLatch release = new CountDownLatch(1);
        master.holdReports = release;
        master.assign("t0", "a0", "true");
        await().atMost(Duration.ofSeconds(5)).until(() -> master.holdReports == null);
        // The agent's writer is inside its write of a0's report; these finish meanwhile.
        master.assign(FakeMaster.assignment("t1", "a1", "true"), FakeMaster.assignment("t2", "a2", "true"),
                FakeMaster.assignment("t3", "a3", "true"));
        await().atMost(Duration.ofSeconds(5)).until(() -> outbox.pending().size() == 4);
        release.countDown();
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            ids.add(nextFinished().getAttemptId());
        }
        assertThat(ids).containsExactlyInAnyOrder("a0", "a1", "a2", "a3");
        assertThat(master.reportBatches).as("the three finished meanwhile went out in one message")
                .anySatisfy(batch -> assertThat(batch).contains("a1 FINISHED", "a2 FINISHED", "a3 FINISHED"));
    }

    @Test
    void aResultTheMasterAsksToRetryStaysInTheOutboxAndIsSentAgain() throws Exception {
        java.util.concurrent.atomic.AtomicInteger asked = new java.util.concurrent.atomic.AtomicInteger();
        master.verdict = report -> report.getPhase() == Phase.FINISHED && asked.incrementAndGet() == 1
                ? Verdict.RETRY : Verdict.TAKEN;
        startAgent(1);
        master.nextHello();
        master.assign("t1", "a1", "echo kept");
        StatusReport first = nextFinished();
        assertThat(outbox.pending()).extracting(StatusReport::getAttemptId).containsExactly("a1");
        StatusReport again = nextFinished();
        assertThat(again.getAttemptId()).isEqualTo("a1");
        assertThat(again.getStdout().toStringUtf8()).isEqualTo("kept\n");
        assertThat(again.getSeq()).as("a new seq").isNotEqualTo(first.getSeq());
        await().atMost(Duration.ofSeconds(5)).until(() -> outbox.pending().isEmpty());
        assertThat(master.reports.poll(2 * OUTBOX_RETRY.toMillis(), TimeUnit.MILLISECONDS)).as("taken: not sent again")
                .isNull();
    }

    @Test
    void aResultTheMasterRefusesForGoodLeavesTheOutboxAndIsNotSentAgain() throws Exception {
        master.verdict = report -> Verdict.REFUSED;
        startAgent(1);
        master.nextHello();
        master.assign("t1", "a1", "true");
        assertThat(nextFinished().getAttemptId()).isEqualTo("a1");
        await().atMost(Duration.ofSeconds(5)).until(() -> outbox.pending().isEmpty());
        assertThat(master.reports.poll(3 * OUTBOX_RETRY.toMillis(), TimeUnit.MILLISECONDS)).isNull();
    }

    @Test
    void aResultNotTakenBeforeTheStreamEndsIsSentAgainOnTheNextStream() throws Exception {
        master.verdict = report -> Verdict.RETRY;
        startAgent(1);
        master.nextHello();
        master.assign("t1", "a1", "echo kept");
        assertThat(nextFinished().getAttemptId()).isEqualTo("a1");
        assertThat(outbox.pending()).extracting(StatusReport::getAttemptId).containsExactly("a1");

        master.verdict = report -> Verdict.TAKEN;
        master.dropStream();
        assertThat(master.nextHello().getHeldList()).extracting(RunningAttempt::getAttemptId).containsExactly("a1");
        StatusReport retried = nextFinished();
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
        master.verdict = report -> Verdict.RETRY;
        launchAgent(1, null, List.of());
        Hello before = master.nextHello();
        master.assign("t1", "a1", "echo once");
        assertThat(nextFinished().getAttemptId()).isEqualTo("a1");
        assertThat(outbox.pending()).extracting(StatusReport::getAttemptId).containsExactly("a1");
        stopAgent();

        master.verdict = report -> Verdict.TAKEN;
        master.reports.clear();
        launchAgent(1, null, List.of());
        Hello after = master.nextHello();
        assertThat(after.getWorkerId()).as("the same worker").isEqualTo(before.getWorkerId());
        assertThat(after.getSessionId()).as("another process").isNotEqualTo(before.getSessionId());
        assertThat(after.getHeldList()).extracting(RunningAttempt::getAttemptId).containsExactly("a1");
        StatusReport delivered = master.nextReport();
        assertThat(delivered.getAttemptId()).isEqualTo("a1");
        assertThat(delivered.getWorkerId()).isEqualTo(before.getWorkerId());
        assertThat(delivered.getStdout().toStringUtf8()).isEqualTo("once\n");
        await().atMost(Duration.ofSeconds(5)).until(() -> outbox.pending().isEmpty());
    }

    @Test
    void aMasterOfAnotherProtocolEndsTheAgentWithItsExitCodeWithoutASecondConnect() throws Exception {
        master.refuseProtocol = "this master speaks protocol 3; the agent spoke 2";
        startAgent(1);
        assertThat(linkEnded.get(10, TimeUnit.SECONDS)).contains(ExitCode.PROTOCOL_MISMATCH);
        assertThat(ExitCode.PROTOCOL_MISMATCH.value()).isEqualTo(5);
        assertThat(master.connects.get()).as("no second Connect").isEqualTo(1);
    }

    /** How long the agents of these tests wait out refusals of a token the master accepted before (5 min in use). */
    private static final Duration REFUSAL_PATIENCE = Duration.ofSeconds(2);

    @Test
    void aRefusedJoinTokenEndsTheAgentAtOnceInsteadOfRetrying() throws Exception {
        master.refuseToken = true;
        startAgent(1);
        assertThat(linkEnded.get(10, TimeUnit.SECONDS)).contains(ExitCode.JOIN_TOKEN_REFUSED);
        assertThat(master.refusedCalls).as("one try, no drain").containsExactly("Connect");
        assertThat(master.hellos).isEmpty();
    }

    /**
     * A token revoked while the agent runs is refused when it connects next (here after the master dropped its
     * stream). The master accepted it before, so the agent asks again for a while (a tokens file being rewritten
     * refuses for a moment); refused all along, it stops as SIGTERM would. The task still running gets its grace and
     * runs to its end; no result is lost, both wait in the outbox for an agent the master accepts.
     */
    @Test
    void aJoinTokenRevokedMidLifeStopsTheAgentAsSigtermWouldAndKeepsTheResults() throws Exception {
        startAgent(2);
        master.nextHello();
        master.assign("t1", "a1", "sleep 1; echo slow");
        assertThat(master.nextReport().getPhase()).isEqualTo(Phase.STARTED);
        master.verdict = report -> report.getPhase() == Phase.FINISHED ? Verdict.RETRY : Verdict.TAKEN;
        master.assign("t2", "a2", "echo quick");
        assertThat(master.nextReport().getAttemptId()).isEqualTo("a2");
        long refusedFrom = System.nanoTime();
        master.refuseToken = true;
        master.dropStream();
        assertThat(linkEnded.get(15, TimeUnit.SECONDS)).contains(ExitCode.JOIN_TOKEN_REFUSED);
        assertThat(Duration.ofNanos(System.nanoTime() - refusedFrom)).as("the refusals were waited out first")
                .isGreaterThanOrEqualTo(REFUSAL_PATIENCE);
        assertThat(master.refusedCalls).as("it asked again").contains("Connect").hasSizeGreaterThan(1);
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
        master.verdict = report -> Verdict.RETRY;
        startAgent(1);
        master.nextHello();
        master.assign("t1", "a1", "echo kept");
        assertThat(nextFinished().getAttemptId()).isEqualTo("a1");
        master.refuseToken = true;
        master.dropStream();
        await().atMost(Duration.ofSeconds(5)).until(() -> !master.refusedCalls.isEmpty());
        master.verdict = report -> Verdict.TAKEN;
        master.refuseToken = false;
        master.nextHello();
        StatusReport finished = nextFinished();
        assertThat(finished.getStdout().toStringUtf8()).isEqualTo("kept\n");
        await().atMost(Duration.ofSeconds(5)).until(() -> outbox.pending().isEmpty());
        assertThat(linkEnded).as("still running").isNotDone();
    }

    @Test
    void withRunAsEveryCommandRunsAsThatUser() throws Exception {
        assumeTrue(CommandRunTest.isRoot(), "switching users needs root");
        RunAs nobody = RunAs.resolve("nobody", true);
        launchAgent(1, nobody, List.of("--id", "w-test"));
        master.nextHello();
        master.assign("t1", "a1", "id -u");
        StatusReport finished = nextFinished();
        assertThat(finished.getOutcome()).isEqualTo(Outcome.EXITED);
        assertThat(finished.getExitCode()).as(finished.getStderr().toStringUtf8()).isZero();
        assertThat(finished.getStdout().toStringUtf8()).isEqualTo(nobody.uid() + "\n");
    }

    private static StatusReport result(String taskId, String attemptId) {
        return StatusReport.newBuilder().setWorkerId("w-test").setTaskId(taskId).setAttemptId(attemptId)
                .setPhase(Phase.FINISHED).setOutcome(Outcome.EXITED).build();
    }

    @Test
    void outputOfATaskThatKeepsRunningReachesTheMasterWhileItRunsAndTheResultSaysHowMuchWasPrinted()
            throws Exception {
        startAgent(1);
        String session = master.nextHello().getSessionId();
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
        assertThat(master.outputCalls.get()).isEqualTo(1);
    }

    @Test
    void outputLargerThanAReportCarriesIsStreamedLiveEvenBeforeTheDelay() throws Exception {
        startAgent(1);
        master.nextHello();
        int size = Protocol.INLINE_OUTPUT_BYTES + 1000;
        master.assign("t1", "a1", "head -c " + size + " /dev/zero; sleep 1");
        StatusReport finished = nextFinished();
        assertThat(finished.getStdoutTotalBytes()).isEqualTo(size);
        assertThat(finished.getStdoutTruncated()).isTrue();
        assertThat(master.events).as("streamed for its size, before the delay made it live")
                .containsSubsequence("chunk", "report a1 STARTED", "report a1 FINISHED EXITED");
    }

    @Test
    void afterAnOutageTheAgentSendsAgainFromTheLastAcknowledgedOffset() throws Exception {
        startAgent(1);
        master.nextHello();
        master.ackOutput = false;
        master.assign("t1", "a1", "echo one; sleep 2; echo two");
        OutputChunk unacknowledged = master.chunks.poll(5, TimeUnit.SECONDS);
        assertThat(unacknowledged.getOffset()).isZero();
        master.ackOutput = true;
        master.dropOutputCall();
        master.dropStream();
        master.nextHello();
        OutputChunk resent = master.chunks.poll(5, TimeUnit.SECONDS);
        assertThat(resent.getOffset()).as("from the last acknowledged offset").isZero();
        assertThat(resent.getData().toStringUtf8()).startsWith("one\n");
        nextFinished();
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
        master.nextHello();
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
        master.nextHello();
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

    /**
     * --master lists a master that is down (a standby does not even listen) before the one that serves: the agent
     * passes it over at once, not after a backoff (30 s here, longer than the test waits), and works with the second.
     * Red without failover: the agent kept knocking at the first.
     */
    @Test
    void aDeadFirstMasterIsPassedOverAtOnceAndTheNextOneTakesTheAgent() throws Exception {
        String absent = InProcessServerBuilder.generateName();
        launchAgent(1, null, List.of("--id", "w-test", "--reconnect-delay", "30s", "--max-reconnect-delay", "30s"),
                List.of(absent, serverName));
        assertThat(master.nextHello().getWorkerId()).isEqualTo("w-test");
        master.assign("t1", "a1", "echo served");
        assertThat(nextFinished().getStdout().toStringUtf8()).isEqualTo("served\n");
    }

    /**
     * An active/standby pair: the active master goes away while the agent runs one task and holds another; the
     * standby takes over (and only then listens). The agent registers there, its Hello naming both attempts, and
     * delivers both results there. It stays with the standby even once the first master is back; only when the
     * standby goes away too does it go back to the first, naming what it holds then.
     */
    @Test
    void whenTheMasterGoesAwayTheNextTakesTheAgentAndWhatItHoldsAndTheAgentStaysThereUntilThatOneGoes()
            throws Exception {
        FakeMaster standby = new FakeMaster();
        String standbyName = InProcessServerBuilder.generateName();
        launchAgent(1, null, List.of("--id", "w-test", "--prefetch", "1"), List.of(serverName, standbyName));
        Hello first = master.nextHello();
        master.assign(FakeMaster.assignment("t1", "a1", "sleep 1.5; echo one"),
                FakeMaster.assignment("t2", "a2", "echo two"));
        assertThat(master.nextReport().getPhase()).isEqualTo(Phase.STARTED);

        server.shutdownNow();
        // A round or two finds neither master (the standby is not listening yet): backoff, no tight loop.
        TimeUnit.MILLISECONDS.sleep(300);
        Server standbyServer = serve(standby, standbyName);
        moreServers.add(standbyServer);
        Hello taken = standby.nextHello();
        assertThat(taken.getSessionId()).as("the same agent process").isEqualTo(first.getSessionId());
        assertThat(taken.getHeldList()).as("what it runs and what it holds prefetched")
                .extracting(RunningAttempt::getAttemptId).containsExactlyInAnyOrder("a1", "a2");
        assertThat(List.of(nextFinished(standby), nextFinished(standby)))
                .extracting(StatusReport::getAttemptId, r -> r.getStdout().toStringUtf8())
                .containsExactlyInAnyOrder(tuple("a1", "one\n"), tuple("a2", "two\n"));
        assertThat(master.reports).as("the master that went away got no result")
                .noneMatch(r -> r.getPhase() == Phase.FINISHED);

        FakeMaster back = new FakeMaster();
        moreServers.add(serve(back, serverName));
        standby.assign("t3", "a3", "sleep 1; echo three");
        assertThat(standby.nextReport().getPhase()).isEqualTo(Phase.STARTED);
        assertThat(back.hellos.poll(500, TimeUnit.MILLISECONDS)).as("no flapping back to the first").isNull();
        assertThat(back.connects).hasValue(0);

        standbyServer.shutdownNow();
        Hello again = back.nextHello();
        assertThat(again.getHeldList()).extracting(RunningAttempt::getAttemptId).containsExactly("a3");
        StatusReport third = nextFinished(back);
        assertThat(third.getAttemptId()).isEqualTo("a3");
        assertThat(third.getStdout().toStringUtf8()).isEqualTo("three\n");
        assertThat(standby.hellos).as("no second Hello on the standby").isEmpty();
    }

    /** A master failed over to that speaks another protocol ends the agent, as the only master would. */
    @Test
    void aMasterOfAnotherProtocolFailedOverToStillEndsTheAgent() throws Exception {
        master.refuseProtocol = "this master speaks protocol 3; the agent spoke 2";
        launchAgent(1, null, List.of("--id", "w-test"), List.of(InProcessServerBuilder.generateName(), serverName));
        assertThat(linkEnded.get(10, TimeUnit.SECONDS)).contains(ExitCode.PROTOCOL_MISMATCH);
        assertThat(master.connects).as("no second Connect").hasValue(1);
    }
}
