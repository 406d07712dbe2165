package io.taskgrid.master.grpc;

import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import io.taskgrid.master.config.TaskgridConfig;
import io.taskgrid.master.dispatch.ConnectedWorker;
import io.taskgrid.master.dispatch.Dispatcher;
import io.taskgrid.master.dispatch.WorkerRegistry;
import io.taskgrid.master.output.OutputReader;
import io.taskgrid.master.output.OutputStore;
import io.taskgrid.master.output.OutputWindow;
import io.taskgrid.master.output.StdStream;
import io.taskgrid.master.task.NewTask;
import io.taskgrid.master.task.TaskIds;
import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.task.TestDatabase;
import io.taskgrid.proto.Protocol;
import io.taskgrid.proto.WorkerLimits;
import io.taskgrid.proto.v1.AgentMessage;
import io.taskgrid.proto.v1.AssignTaskRequest;
import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.DrainAck;
import io.taskgrid.proto.v1.DrainRequest;
import io.taskgrid.proto.v1.Hello;
import io.taskgrid.proto.v1.MasterMessage;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.OutputAck;
import io.taskgrid.proto.v1.OutputChunk;
import io.taskgrid.proto.v1.OutputStream;
import io.taskgrid.proto.v1.Phase;
import io.taskgrid.proto.v1.ProtocolVersion;
import io.taskgrid.proto.v1.ReportAck;
import io.taskgrid.proto.v1.Reports;
import io.taskgrid.proto.v1.RunningAttempt;
import io.taskgrid.proto.v1.StatusReport;
import io.taskgrid.proto.v1.Verdict;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The agent protocol as the master speaks it, over an in-process transport, with the real dispatcher and store on an
 * H2 database of the test's own: what a client holding a join token can and cannot make the master believe.
 */
class NodeServiceTest {

    @TempDir
    Path dir;

    private final WorkerRegistry registry = new WorkerRegistry();
    private final TaskgridConfig config = TaskgridConfig.defaults().withOutputLimitBytes(1024).withRefusalLimits(10, 3);
    private final List<LogRecord> logged = new CopyOnWriteArrayList<>();
    private final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord record) {
            logged.add(record);
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };
    private TaskStore store;
    private OutputStore output;
    private Dispatcher dispatcher;
    private GrpcServer server;
    private ManagedChannel channel;

    /** One agent's Connect stream as the test sees it: what the master sent down it, and how it ended. */
    private static final class Agent {
        final String session;
        final List<MasterMessage> received = new CopyOnWriteArrayList<>();
        final CompletableFuture<Status> ended = new CompletableFuture<>();
        final Map<Long, CompletableFuture<ReportAck>> acks = new ConcurrentHashMap<>();
        final AtomicLong seq = new AtomicLong();
        StreamObserver<AgentMessage> requests;

        Agent(String session) {
            this.session = session;
        }

        List<Assignment> assignments() {
            return received.stream().filter(MasterMessage::hasAssignments)
                    .flatMap(m -> m.getAssignments().getAssignmentsList().stream()).toList();
        }

        synchronized void send(AgentMessage message) {
            requests.onNext(message);
        }

        /** Sends the report on this stream and waits for its answer. */
        ReportAck report(StatusReport.Builder report) throws Exception {
            long n = seq.incrementAndGet();
            CompletableFuture<ReportAck> answer = acks.computeIfAbsent(n, k -> new CompletableFuture<>());
            send(AgentMessage.newBuilder().setReports(Reports.newBuilder().addReports(report.setSeq(n))).build());
            return answer.get(5, TimeUnit.SECONDS);
        }

        DrainAck drain(String reason) throws Exception {
            int before = (int) received.stream().filter(MasterMessage::hasDrained).count();
            send(AgentMessage.newBuilder().setDrain(DrainRequest.newBuilder().setReason(reason)).build());
            await().atMost(Duration.ofSeconds(5)).until(() -> received.stream().filter(MasterMessage::hasDrained)
                    .count() > before);
            return received.stream().filter(MasterMessage::hasDrained).reduce((x, y) -> y).orElseThrow().getDrained();
        }
    }

    /** The open stream of each session, as a report names it. */
    private final Map<String, Agent> sessions = new ConcurrentHashMap<>();

    @BeforeEach
    void start() {
        store = TestDatabase.openStore(dir);
        dispatcher = new Dispatcher(store, registry, config);
        dispatcher.startLoop(TestDatabase.threads());
        dispatcher.start();
        NodeService service = new NodeService();
        service.registry = registry;
        service.dispatcher = dispatcher;
        service.store = store;
        service.config = config;
        output = new OutputStore(TestDatabase.h2(dir), config.outputLimitBytes(), TestDatabase.threads());
        service.output = output;
        String name = InProcessServerBuilder.generateName();
        server = new GrpcServer(InProcessServerBuilder.forName(name).directExecutor(),
                NodeServiceGrpc.bindService(service)).start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        Logger.getLogger(NodeService.class.getName()).addHandler(capture);
    }

    @AfterEach
    void stop() {
        Logger.getLogger(NodeService.class.getName()).removeHandler(capture);
        channel.shutdownNow();
        server.stop(1000);
        dispatcher.stop();
        output.close();
        store.close();
    }

    private Agent connect(String workerId, int slots) {
        return connect(Hello.newBuilder().setWorkerId(workerId).setSlots(slots)
                .setSessionId("session-of-" + workerId));
    }

    private Agent connect(Hello.Builder request) {
        Agent agent = new Agent(request.getSessionId());
        sessions.put(request.getSessionId(), agent);
        agent.requests = NodeServiceGrpc.newStub(channel).connect(new StreamObserver<>() {
            @Override
            public void onNext(MasterMessage value) {
                agent.received.add(value);
                if (value.hasAcks()) {
                    for (ReportAck ack : value.getAcks().getAcksList()) {
                        agent.acks.computeIfAbsent(ack.getSeq(), k -> new CompletableFuture<>()).complete(ack);
                    }
                }
            }

            @Override
            public void onError(Throwable t) {
                agent.ended.complete(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
                agent.ended.complete(Status.OK);
            }
        });
        if (request.getProtocol() == ProtocolVersion.PROTOCOL_VERSION_UNSPECIFIED) {
            request.setProtocol(ProtocolVersion.PROTOCOL_VERSION_2);
        }
        agent.send(AgentMessage.newBuilder().setHello(request).build());
        return agent;
    }

    /** Submits a task and waits until {@code agent} has it; returns the assignment. */
    private Assignment assignedTo(Agent agent, String cmd) throws Exception {
        int before = agent.assignments().size();
        dispatcher.submit(TaskIds.next(), new NewTask(cmd, Map.of(), null, null, null, null, null, null, null), "tester", null, null, null).get(5, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(5)).until(() -> agent.assignments().size() > before);
        return agent.assignments().get(before);
    }

    private static StatusReport.Builder finished(String workerId, String session, Assignment a) {
        return StatusReport.newBuilder().setWorkerId(workerId).setSessionId(session)
                .setTaskId(a.getTaskId()).setAttemptId(a.getAttemptId()).setPhase(Phase.FINISHED)
                .setOutcome(Outcome.EXITED).setExitCode(0).setStdout(ByteString.copyFromUtf8("ok\n"));
    }

    /** Sends the report on the stream of the session it names; fails unless the master took it. */
    private ReportAck report(StatusReport.Builder report) throws Exception {
        ReportAck ack = sessions.get(report.getSessionId()).report(report);
        assertThat(ack.getVerdict()).as("report taken (%s)", ack.getReason()).isEqualTo(Verdict.TAKEN);
        return ack;
    }

    /** The master's verdict on the report, sent on the stream of the session it names. */
    private Verdict answer(StatusReport.Builder report) throws Exception {
        return sessions.get(report.getSessionId()).report(report).getVerdict();
    }

    private Verdict refusal(StatusReport.Builder report) throws Exception {
        return answer(report);
    }

    private List<String> row(String taskId, String columns) throws Exception {
        return TestDatabase.rows(TestDatabase.h2(dir), "SELECT " + columns + " FROM TG_TASK WHERE ID = '" + taskId + "'")
                .get(0);
    }

    @Test
    void aWorkerIsRegisteredWhileItsStreamIsOpenAndIsToldSoFirst() {
        Agent agent = connect("w1", 2);
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.get("w1").isPresent() && !agent.received.isEmpty());
        assertThat(registry.get("w1").orElseThrow().slots()).isEqualTo(2);
        assertThat(agent.received.get(0).hasRegistered()).isTrue();
        assertThat(agent.received.get(0).getRegistered().getRefusedAttemptIdsList()).isEmpty();
    }

    @Test
    void badRegistrationsAreRefused() throws Exception {
        assertThat(connect("has space", 1).ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(connect("", 1).ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(connect("w1", 0).ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(connect("w1", 257).ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(connect(Hello.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("a\nb"))
                .ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(connect(Hello.newBuilder().setWorkerId("w1").setSlots(1).setSessionId(""))
                .ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        Hello.Builder tooManyClaims = Hello.newBuilder().setWorkerId("w1").setSlots(1)
                .setSessionId("s1");
        for (int i = 0; i <= NodeService.MAX_CLAIMS; i++) {
            tooManyClaims.addHeld(RunningAttempt.newBuilder().setTaskId(TaskIds.next()).setAttemptId(TaskIds.next()));
        }
        assertThat(connect(tooManyClaims).ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(connect(Hello.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("s1")
                .addHeld(RunningAttempt.newBuilder().setTaskId("../../etc").setAttemptId("x")))
                .ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        Status badLabel = connect(Hello.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("s1")
                .putLabels("os", "linux\nINFO forged")).ended.get(5, TimeUnit.SECONDS);
        assertThat(badLabel.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(badLabel.getDescription()).startsWith("labels: ").doesNotContain("forged");
        Hello.Builder tooManyLabels = Hello.newBuilder().setWorkerId("w1").setSlots(1)
                .setSessionId("s1");
        for (int i = 0; i <= 16; i++) {
            tooManyLabels.putLabels("k" + i, "v");
        }
        assertThat(connect(tooManyLabels).ended.get(5, TimeUnit.SECONDS).getCode())
                .isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(registry.all()).isEmpty();
    }

    /**
     * The agent checks its --id, --slots and --label by {@link WorkerLimits} before it connects; the master must take
     * all that those let through and refuse the rest, or an agent that started cleanly would be refused on every
     * reconnect. Held at the edges and over odd characters, so that a limit of the master's own would show.
     */
    @Test
    void registrationsAreCheckedByTheLimitsTheAgentChecksItsFlagsBy() {
        String longest = "w".repeat(WorkerLimits.MAX_WORKER_ID_LENGTH);
        Map<String, String> most = new HashMap<>();
        for (int i = 0; i < WorkerLimits.MAX_LABELS; i++) {
            most.put("k" + i, "v".repeat(WorkerLimits.MAX_LABEL_LENGTH));
        }
        assertThat(registers(longest, WorkerLimits.MAX_SLOTS, most)).as("everything at its limit").isTrue();
        assertThat(registers(longest + "w", 1, Map.of())).as("a worker id one longer").isFalse();
        assertThat(registers("w-slots", WorkerLimits.MAX_SLOTS + 1, Map.of())).as("one slot more").isFalse();
        Map<String, String> oneMore = new HashMap<>(most);
        oneMore.put("one", "more");
        assertThat(registers("w-labels", 1, oneMore)).as("one label more").isFalse();
        assertThat(registers("w-long-label", 1, Map.of("k", "v".repeat(WorkerLimits.MAX_LABEL_LENGTH + 1))))
                .as("a label value one longer").isFalse();
        int n = 0;
        for (String id : List.of("a", "A.b_c-9", "-x", ".", "has space", "é", "a/b", "a\nb", "a:b")) {
            assertThat(registers(id, 1, Map.of())).as("worker id '%s'", id).isEqualTo(WorkerLimits.isWorkerId(id));
        }
        for (String word : List.of("a", "9x", "a.b_c-d", "-x", ".x", "_x", "a b", "a=b", "a,b", "é", "")) {
            assertThat(registers("w-word-" + n++, 1, Map.of("k", word))).as("label value '%s'", word)
                    .isEqualTo(WorkerLimits.isLabelWord(word));
        }
    }

    /** Whether the master registers this worker, rather than ending its stream with INVALID_ARGUMENT. */
    private boolean registers(String workerId, int slots, Map<String, String> labels) {
        Agent agent = connect(Hello.newBuilder().setWorkerId(workerId).setSlots(slots).setSessionId("s1")
                .putAllLabels(labels));
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.get(workerId).isPresent() || agent.ended.isDone());
        if (agent.ended.isDone()) {
            assertThat(agent.ended.join().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            return false;
        }
        return true;
    }

    @Test
    void aWorkerIsRegisteredWithTheLabelsItOffers() {
        connect(Hello.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("s1")
                .putLabels("os", "linux").putLabels("gpu", "a100"));
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.get("w1").isPresent());
        assertThat(registry.get("w1").orElseThrow().labels().canonical()).isEqualTo("gpu=a100,os=linux");
    }

    @Test
    void aSecondConnectionForALiveIdIsRefusedAndTheFirstKeepsIt() throws Exception {
        Agent first = connect("w1", 1);
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.get("w1").isPresent());
        Status second = connect("w1", 1).ended.get(5, TimeUnit.SECONDS);
        assertThat(second.getCode()).isEqualTo(Status.Code.ALREADY_EXISTS);
        assertThat(second.getDescription()).contains("w1");
        assertThat(first.ended).isNotDone();
        assertThat(registry.all()).hasSize(1);
    }

    @Test
    void aWorkerLeavesTheRegistryTheMomentItsConnectionEnds() {
        connect("w1", 1);
        connect("w2", 1);
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.all().size() == 2);
        channel.shutdownNow();
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.all().isEmpty());
    }

    @Test
    void drainStopsNewWorkForThatWorkerOnly() throws Exception {
        Agent w1 = connect("w1", 1);
        connect("w2", 1);
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.all().size() == 2);
        // A drain names no worker: it drains the one registered on its stream, and no other.
        assertThat(w1.drain("").getInFlight()).isZero();
        assertThat(registry.get("w1").orElseThrow().isDraining()).isTrue();
        assertThat(registry.get("w1").orElseThrow().drainReason()).contains("shutting down");
        assertThat(registry.get("w2").orElseThrow().isDraining()).isFalse();
    }

    @Test
    void anAgentsOwnDrainReasonIsKeptOnOneBoundedLine() throws Exception {
        connect("w1", 1);
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.get("w1").isPresent());
        // An agent that cannot start processes says so; what it says reaches GET /workers and the log.
        String reason = "cannot start processes: error=11, Resource temporarily unavailable\n[forged] line "
                + "x".repeat(1_000);
        sessions.get("session-of-w1").drain(reason);
        String kept = registry.get("w1").orElseThrow().drainReason();
        assertThat(kept).startsWith("cannot start processes: error=11").doesNotContain("\n")
                .hasSizeLessThanOrEqualTo(NodeService.MAX_DRAIN_REASON_CHARS);
    }

    @Test
    void reportsWithMalformedIdsAreRefused() throws Exception {
        Agent agent = registered(Hello.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("s1"));
        assertThat(refusal(StatusReport.newBuilder().setSessionId("s1").setPhase(Phase.FINISHED)))
                .isEqualTo(Verdict.REFUSED);
        assertThat(refusal(StatusReport.newBuilder().setSessionId("s1").setTaskId("not-a-task")
                .setAttemptId(TaskIds.next()))).isEqualTo(Verdict.REFUSED);
        assertThat(agent.ended).as("the stream stays open").isNotDone();
    }

    @Test
    void aStreamMustStartWithAHelloOfThisProtocolAndHoldOnlyOne() throws Exception {
        Agent noHello = new Agent("x");
        sessions.put("x", noHello);
        noHello.requests = NodeServiceGrpc.newStub(channel).connect(new StreamObserver<>() {
            @Override
            public void onNext(MasterMessage value) {
                noHello.received.add(value);
            }

            @Override
            public void onError(Throwable t) {
                noHello.ended.complete(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
                noHello.ended.complete(Status.OK);
            }
        });
        noHello.send(AgentMessage.newBuilder().setReports(Reports.newBuilder()
                .addReports(StatusReport.newBuilder().setTaskId(TaskIds.next()).setAttemptId(TaskIds.next()))).build());
        assertThat(noHello.ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);

        Status oldProtocol = connect(Hello.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("s1")
                .setProtocolValue(1)).ended.get(5, TimeUnit.SECONDS);
        assertThat(oldProtocol.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
        assertThat(oldProtocol.getDescription()).contains("protocol 2").contains("protocol 1");

        Agent twice = registered(Hello.newBuilder().setWorkerId("w2").setSlots(1).setSessionId("s2"));
        twice.send(AgentMessage.newBuilder().setHello(Hello.newBuilder().setProtocol(ProtocolVersion.PROTOCOL_VERSION_2)
                .setWorkerId("w3").setSlots(1).setSessionId("s3")).build());
        assertThat(twice.ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.all().isEmpty());
    }

    /** A Reports message is bounded like everything else an agent sends; one past the bound ends the stream. */
    @Test
    void aReportsMessageOfMoreThanTheBoundEndsTheStream() throws Exception {
        Agent agent = registered(Hello.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("s1"));
        Reports.Builder many = Reports.newBuilder();
        for (int i = 0; i <= Protocol.MAX_REPORTS_PER_MESSAGE; i++) {
            many.addReports(StatusReport.newBuilder().setSeq(i).setTaskId(TaskIds.next()).setAttemptId(TaskIds.next())
                    .setPhase(Phase.FINISHED).setOutcome(Outcome.EXITED));
        }
        agent.send(AgentMessage.newBuilder().setReports(many).build());
        Status ended = agent.ended.get(5, TimeUnit.SECONDS);
        assertThat(ended.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(ended.getDescription()).contains(Integer.toString(Protocol.MAX_REPORTS_PER_MESSAGE));
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.get("w1").isEmpty());
    }

    /** An agent of the protocol before Connect gets the one status it takes as final, naming both protocols. */
    @Test
    void anAgentOfProtocolOneIsToldToUpgradeAndNotToRetry() {
        assertThatThrownBy(() -> NodeServiceGrpc.newBlockingStub(channel).assignTask(AssignTaskRequest.newBuilder()
                .setWorkerId("old").setSlots(1).setSessionId("s").build()).hasNext())
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
                    assertThat(e.getStatus().getDescription()).contains("protocol 2").contains("protocol 1");
                });
        assertThat(registry.all()).isEmpty();
    }

    private void submitTrue() throws Exception {
        dispatcher.submit(TaskIds.next(), new NewTask("true", Map.of(), null, null, null, null, null, null, null),
                "tester", null, null, null).get(5, TimeUnit.SECONDS);
    }

    /**
     * A prefetching worker is given tasks beyond its slots only when no worker with a free slot may run them, and only
     * while more are queued than workers are connected.
     */
    @Test
    void prefetchGoesOnlyWhereNoFreeSlotWaits() throws Exception {
        Agent busy = registered(Hello.newBuilder().setWorkerId("busy").setSlots(1).setPrefetch(1).setSessionId("b"));
        Assignment first = assignedTo(busy, "sleep 60");
        Agent idle = registered(Hello.newBuilder().setWorkerId("idle").setSlots(1).setPrefetch(1).setSessionId("i"));
        assignedTo(idle, "sleep 60");
        assertThat(busy.assignments()).as("the idle worker's free slot came first").containsExactly(first);
        // Both slots busy, two workers: one queued task is not prefetched (the first slot to free takes it) ...
        submitTrue();
        TimeUnit.MILLISECONDS.sleep(300);
        assertThat(busy.assignments().size() + idle.assignments().size()).isEqualTo(2);
        // ... nor two; but with more queued than workers, prefetch takes what is beyond that.
        submitTrue();
        submitTrue();
        submitTrue();
        await().atMost(Duration.ofSeconds(5)).until(() -> busy.assignments().size() + idle.assignments().size() == 4);
        TimeUnit.MILLISECONDS.sleep(300);
        assertThat(busy.assignments().size() + idle.assignments().size()).isEqualTo(4);
        assertThat(busy.assignments()).hasSize(2);
        assertThat(idle.assignments()).hasSize(2);
        assertThat(dispatcher.queued()).isEqualTo(2);
    }

    /** A prefetched task given back by a draining agent goes back to the queue without counting as an attempt. */
    @Test
    void aReturnedTaskIsQueuedAgainAsIfNeverAssigned() throws Exception {
        Agent agent = registered(Hello.newBuilder().setWorkerId("w1").setSlots(1).setPrefetch(1).setSessionId("s1"));
        assignedTo(agent, "sleep 60");
        // More queued than workers: the second one is prefetched.
        submitTrue();
        submitTrue();
        await().atMost(Duration.ofSeconds(5)).until(() -> agent.assignments().size() == 2);
        Assignment held = agent.assignments().get(1);
        agent.drain("shutting down");
        ReportAck ack = report(StatusReport.newBuilder().setSessionId("s1").setTaskId(held.getTaskId())
                .setAttemptId(held.getAttemptId()).setPhase(Phase.FINISHED).setOutcome(Outcome.RETURNED)
                .setReason("the agent is shutting down"));
        assertThat(ack.getApplied()).isTrue();
        assertThat(row(held.getTaskId(), "STATE, ATTEMPT_COUNT")).containsExactly("QUEUED", "0");
        assertThat(registry.get("w1").orElseThrow().refusedTotal()).isZero();
    }

    /** The attack that worked before: a made-up, unconnected worker id reporting a result for a running attempt. */
    @Test
    void aClientThatIsNotTheConnectionHoldingAnAttemptCannotReportIt() throws Exception {
        Agent holder = connect("w1", 1);
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.get("w1").isPresent());
        Assignment task = assignedTo(holder, "sleep 5");
        Agent intruder = connect("intruder", 4);
        await().atMost(Duration.ofSeconds(5)).until(() -> !intruder.received.isEmpty());

        // A report names no session of its own any more: the stream it comes on is the session, so "another
        // worker's id" or "a guessed session" cannot be said at all; what is left is a connected worker naming an
        // attempt it does not hold.
        assertThat(refusal(finished("intruder", intruder.session, task))).as("a connected worker, not the holder")
                .isEqualTo(Verdict.REFUSED);
        assertThat(refusal(finished("intruder", intruder.session, task))).isEqualTo(Verdict.REFUSED);
        assertThat(row(task.getTaskId(), "STATE")).containsExactly("ASSIGNED");
        assertThat(logged).filteredOn(r -> r.getMessage().contains("never handed to it")).as("logged once").hasSize(1);

        assertThat(report(finished("w1", holder.session, task)).getApplied()).as("the holder itself").isTrue();
        assertThat(row(task.getTaskId(), "STATE, STDOUT_TEXT")).containsExactly("SUCCEEDED", "ok\n");
    }

    @Test
    void claimsOfAttemptsNeverHandedToTheWorkerAreRefusedAndNotHeld() throws Exception {
        Agent w2 = connect("w2", 1);
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.get("w2").isPresent());
        Assignment foreign = assignedTo(w2, "sleep 5");
        String unknown = TaskIds.next();
        Agent claimer = connect(Hello.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("s-w1")
                .addHeld(RunningAttempt.newBuilder().setTaskId(foreign.getTaskId()).setAttemptId(foreign.getAttemptId()))
                .addHeld(RunningAttempt.newBuilder().setTaskId(TaskIds.next()).setAttemptId(unknown)));
        await().atMost(Duration.ofSeconds(5)).until(() -> !claimer.received.isEmpty());
        assertThat(claimer.received.get(0).getRegistered().getRefusedAttemptIdsList())
                .containsExactly(foreign.getAttemptId(), unknown);
        assertThat(registry.get("w1").orElseThrow().holds(foreign.getTaskId(), foreign.getAttemptId())).isFalse();
        assertThat(refusal(finished("w1", "s-w1", foreign))).isEqualTo(Verdict.REFUSED);
        assertThat(logged).filteredOn(r -> r.getMessage().contains("claimed 2 attempt(s)")).hasSize(1);
    }

    /** The chunks, the result and the attempts of a task, as readers see them: what a forger must not change. */
    private List<Object> everythingOf(Assignment a) throws Exception {
        return List.of(stored(a, StdStream.STDOUT), stored(a, StdStream.STDERR),
                row(a.getTaskId(), "STATE, EXIT_CODE, STDOUT_TEXT, STDERR_TEXT, REASON, FINISHED_AT"),
                TestDatabase.rows(TestDatabase.h2(dir), "SELECT ID, OUTCOME, ENDED_AT FROM TG_ATTEMPT WHERE TASK_ID = '"
                        + a.getTaskId() + "' ORDER BY ID"));
    }

    /** A FINISHED report as an agent that streams output sends it: with the totals that let the master settle. */
    private static StatusReport.Builder finishedWithOutput(String workerId, String session, Assignment a, String out) {
        return finished(workerId, session, a).setStdout(ByteString.copyFromUtf8(out))
                .setStdoutTotalBytes(out.length()).setStderrTotalBytes(0);
    }

    /** Ends the agent's connection as the master sees it (its stream's cancel handler calls the same). */
    private void gone(String workerId) {
        registry.get(workerId).ifPresent(w -> dispatcher.workerGone(w, "test"));
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.get(workerId).isEmpty());
    }

    private Agent registered(Hello.Builder request) {
        Agent agent = connect(request);
        await().atMost(Duration.ofSeconds(5)).until(() -> !agent.received.isEmpty() || agent.ended.isDone());
        assertThat(agent.ended).as("registered").isNotDone();
        return agent;
    }

    /**
     * The attack of issue 16: a join-token holder registers under the id of a worker that is gone and reports one of
     * its ended attempts. Before, the report was believed because the attempt was once handed to that id, and the
     * stored output was replaced before anyone checked the attempt was current: a finished task's output could be
     * rewritten after the fact. Neither the report, nor a claim of the attempt, nor a chunk changes anything now.
     */
    @Test
    void aGoneWorkersIdCannotRewriteTheOutputOrResultOfItsEndedAttempt() throws Exception {
        Agent real = connect("w1", 1);
        Assignment a = assignedTo(real, "echo real");
        OutputCall streamed = new OutputCall().send(chunk("w1", a, OutputStream.STDOUT, 0, "real\n"));
        assertThat(streamed.ack(1).getStoredTo()).isEqualTo(5);
        assertThat(report(finishedWithOutput("w1", real.session, a, "real\n")).getApplied()).isTrue();
        gone("w1");
        List<Object> before = everythingOf(a);
        assertThat(before.get(0)).isEqualTo("real\n");

        registered(Hello.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("forged"));
        Verdict answer = answer(finishedWithOutput("w1", "forged", a, "forged output\n"));
        OutputCall chunks = new OutputCall().send(chunk("w1", a, OutputStream.STDOUT, 0, "forged output\n")
                .setSessionId("forged"));
        assertThat(chunks.ack(1).getRefused()).isTrue();
        assertThat(everythingOf(a)).as("nothing of the ended attempt changed").isEqualTo(before);
        assertThat(answer).as("a session that does not hold the attempt").isEqualTo(Verdict.REFUSED);
        gone("w1");

        // Claiming it on registering gains nothing either: the attempt is over, so the claim only keeps a slot until
        // the "agent" reports it, and that report is acknowledged without changing anything.
        Agent claimer = registered(Hello.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("claims")
                .addHeld(RunningAttempt.newBuilder().setTaskId(a.getTaskId()).setAttemptId(a.getAttemptId())));
        assertThat(claimer.received.get(0).getRegistered().getRefusedAttemptIdsList()).isEmpty();
        ReportAck ack;
        try {
            ack = report(finishedWithOutput("w1", "claims", a, "forged again\n"));
        } catch (StatusRuntimeException refused) {
            ack = ReportAck.getDefaultInstance();
        }
        assertThat(ack.getApplied()).isFalse();
        assertThat(everythingOf(a)).as("nothing of the ended attempt changed").isEqualTo(before);
    }

    /**
     * The same attack on an attempt still in flight: before, the forged result ended the task, with forged output.
     * Only a session that claimed the attempt when it registered (the real agent, reconnecting within lostAfter) may.
     */
    @Test
    void aGoneWorkersIdCannotEndItsInFlightAttemptUnlessItClaimedIt() throws Exception {
        Agent real = connect("w1", 1);
        Assignment a = assignedTo(real, "sleep 60");
        new OutputCall().send(chunk("w1", a, OutputStream.STDOUT, 0, "partial\n")).ack(1);
        gone("w1");
        List<Object> before = everythingOf(a);

        registered(Hello.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("forged"));
        Verdict started = answer(finished("w1", "forged", a).setPhase(Phase.STARTED));
        Verdict finished = answer(finishedWithOutput("w1", "forged", a, "forged\n"));
        boolean chunkRefused = new OutputCall().send(chunk("w1", a, OutputStream.STDOUT, 8, "forged\n")
                .setSessionId("forged")).ack(1).getRefused();
        assertThat(everythingOf(a)).as("the attempt goes on as it was").isEqualTo(before);
        assertThat(row(a.getTaskId(), "STATE")).containsExactly("ASSIGNED");
        assertThat(List.of(started, finished)).containsOnly(Verdict.REFUSED);
        assertThat(chunkRefused).isTrue();
        gone("w1");

        // The agent itself comes back, claims what it runs, and its result is taken.
        Agent back = registered(Hello.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("back")
                .addHeld(RunningAttempt.newBuilder().setTaskId(a.getTaskId()).setAttemptId(a.getAttemptId())));
        assertThat(back.received.get(0).getRegistered().getRefusedAttemptIdsList()).isEmpty();
        assertThat(report(finishedWithOutput("w1", "back", a, "partial\nreal\n")).getApplied()).isTrue();
        assertThat(row(a.getTaskId(), "STATE, STDOUT_TEXT")).containsExactly("SUCCEEDED", "partial\nreal\n");
        assertThat(stored(a, StdStream.STDOUT)).isEqualTo("partial\nreal\n");
    }

    /**
     * The legitimate side of the same rule: an agent that comes back after the master gave its attempt up (lostAfter
     * passed) still has the result in its outbox. It claims the attempt, is not refused (it was its own), and its
     * report is acknowledged (applied = false) so that its outbox empties, without changing the task or the output.
     */
    @Test
    void theResultOfAnAttemptTheMasterGaveUpOnIsAcknowledgedAndChangesNothing() throws Exception {
        config.withLostAfterSeconds(1);
        Agent real = connect("w1", 1);
        Assignment a = assignedTo(real, "sleep 60");
        gone("w1");
        await().atMost(Duration.ofSeconds(10)).until(() -> row(a.getTaskId(), "STATE").get(0).equals("QUEUED"));

        Agent back = registered(Hello.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("back")
                .addHeld(RunningAttempt.newBuilder().setTaskId(a.getTaskId()).setAttemptId(a.getAttemptId())));
        assertThat(back.received.get(0).getRegistered().getRefusedAttemptIdsList()).isEmpty();
        assertThat(back.received.get(0).getRegistered().getStaleAttemptIdsList()).as("told to stop it")
                .containsExactly(a.getAttemptId());
        assertThat(report(finishedWithOutput("w1", "back", a, "too late\n")).getApplied()).isFalse();
        assertThat(output.hasChunks(a.getAttemptId())).as("no output for the attempt given up").isFalse();
        // Its slot is free again: the task, queued once more, goes to it as a new attempt.
        await().atMost(Duration.ofSeconds(5)).until(() -> !back.assignments().isEmpty());
        Assignment again = back.assignments().get(0);
        assertThat(again.getTaskId()).isEqualTo(a.getTaskId());
        assertThat(again.getAttemptId()).isNotEqualTo(a.getAttemptId());
        assertThat(report(finishedWithOutput("w1", "back", again, "ran again\n")).getApplied()).isTrue();
        assertThat(row(a.getTaskId(), "STATE, STDOUT_TEXT")).containsExactly("SUCCEEDED", "ran again\n");
    }

    /**
     * The store's own guard, whatever its caller checked: output is written only while the attempt is its task's
     * current attempt in flight, so neither a chunk nor a settle reaches an attempt that has ended.
     */
    @Test
    void theStoreWritesNoOutputOfAnAttemptThatIsNotInFlight() throws Exception {
        Agent agent = connect("w1", 1);
        Assignment a = assignedTo(agent, "echo real");
        assertThat(output.append(a.getTaskId(), a.getAttemptId(), StdStream.STDOUT, 0, "real\n".getBytes(StandardCharsets.UTF_8))
                .get(5, TimeUnit.SECONDS)).isEqualTo(5);
        assertThat(report(finished("w1", agent.session, a)).getApplied()).isTrue();
        output.forget(a.getAttemptId());

        CompletableFuture<Long> appended = output.append(a.getTaskId(), a.getAttemptId(), StdStream.STDOUT, 5,
                "forged\n".getBytes(StandardCharsets.UTF_8));
        CompletableFuture<Void> settled = output.settle(a.getTaskId(), a.getAttemptId(), StdStream.STDOUT,
                "forged\n".getBytes(StandardCharsets.UTF_8), 7);
        assertThat(appended).failsWithin(Duration.ofSeconds(5));
        assertThat(settled).failsWithin(Duration.ofSeconds(5));
        assertThat(stored(a, StdStream.STDOUT)).isEqualTo("real\n");
    }

    /** A flood of refused reports must not write a line each: the log keeps what came before it. */
    @Test
    void aFloodOfRefusedReportsWritesOneLineAMinute() throws Exception {
        Agent agent = connect("w1", 1);
        Assignment mine = assignedTo(agent, "sleep 60");
        for (int i = 0; i < 500; i++) {
            Assignment made = mine.toBuilder().setTaskId(TaskIds.next()).setAttemptId(TaskIds.next()).build();
            assertThat(refusal(finished("w1", agent.session, made))).isEqualTo(Verdict.REFUSED);
        }
        assertThat(logged).filteredOn(r -> r.getMessage().contains("never handed to it")).hasSize(1);
    }

    @Test
    void aReconnectingWorkerKeepsItsOwnAttemptsEvenBeyondItsSlotsAndReportsThem() throws Exception {
        Agent before = connect("w1", 2);
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.get("w1").isPresent());
        Assignment a = assignedTo(before, "sleep 5");
        Assignment b = assignedTo(before, "sleep 5");
        before.drain("");
        registry.get("w1").ifPresent(w -> dispatcher.workerGone(w, "test"));
        Agent back = connect(Hello.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("s2")
                .addHeld(RunningAttempt.newBuilder().setTaskId(a.getTaskId()).setAttemptId(a.getAttemptId()))
                .addHeld(RunningAttempt.newBuilder().setTaskId(b.getTaskId()).setAttemptId(b.getAttemptId())));
        await().atMost(Duration.ofSeconds(5)).until(() -> !back.received.isEmpty());
        ConnectedWorker w1 = registry.get("w1").orElseThrow();
        assertThat(w1.running()).isEqualTo(2);
        assertThat(w1.canTakeTask()).isFalse();
        assertThat(report(finished("w1", "s2", a)).getApplied()).isTrue();
        assertThat(report(finished("w1", "s2", b)).getApplied()).isTrue();
        assertThat(w1.running()).isZero();
    }

    @Test
    void aResultTheDatabaseRefusesStillEndsTheTaskWithAReasonAndFreesTheSlot() throws Exception {
        TestDatabase.execute(TestDatabase.h2(dir), "ALTER TABLE TG_TASK ADD CONSTRAINT NO_POISON "
                + "CHECK (STDOUT_TEXT IS NULL OR STDOUT_TEXT NOT LIKE '%poison%')");
        Agent agent = connect("w1", 1);
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.get("w1").isPresent());
        Assignment task = assignedTo(agent, "true");
        ReportAck ack = report(finished("w1", agent.session, task).setStdout(ByteString.copyFromUtf8("poison")));
        assertThat(ack.getApplied()).isTrue();
        assertThat(row(task.getTaskId(), "STATE, REASON")).satisfies(r -> {
            assertThat(r.get(0)).isEqualTo("FAILED");
            assertThat(r.get(1)).contains("could not store");
        });
        assertThat(registry.get("w1").orElseThrow().running()).as("slot freed").isZero();
    }

    @Test
    void aWorkerThatKeepsHandingTasksBackIsDrainedAndSaysWhy() throws Exception {
        Agent agent = connect("w1", 1);
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.get("w1").isPresent());
        // One task, handed back each time it comes: a refused task is queued again and comes straight back.
        assignedTo(agent, "true");
        for (int i = 0; i < 3; i++) {
            int handedBack = i;
            await().atMost(Duration.ofSeconds(5)).until(() -> agent.assignments().size() > handedBack);
            Assignment task = agent.assignments().get(handedBack);
            report(finished("w1", agent.session, task).setOutcome(Outcome.REJECTED).setReason("nope"));
        }
        ConnectedWorker worker = registry.get("w1").orElseThrow();
        assertThat(worker.isDraining()).isTrue();
        assertThat(worker.drainReason()).contains("handed back 3 tasks in a row");
        assertThat(worker.refusedTotal()).isEqualTo(3);
    }

    @Test
    void whatAnAgentSaysReachesLogAndStoreOnOneLineAndCutToSize() throws Exception {
        Agent agent = connect(Hello.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("s1")
                .setAgentVersion("1.0\nSEVERE forged line " + "v".repeat(1000)));
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.get("w1").isPresent());
        Assignment task = assignedTo(agent, "true");
        report(finished("w1", "s1", task).setOutcome(Outcome.FAILED_TO_START)
                .setReason("no such dir\r\nINFO: forged " + "r".repeat(10_000)));

        String reason = row(task.getTaskId(), "REASON").get(0);
        assertThat(reason).doesNotContain("\n").doesNotContain("\r").hasSizeLessThanOrEqualTo(2000);
        assertThat(logged).allSatisfy(record -> assertThat(record.getMessage()).doesNotContain("\nSEVERE"));
        assertThat(logged).filteredOn(r -> r.getMessage().contains("connected")).singleElement()
                .satisfies(r -> assertThat(r.getMessage()).hasSizeLessThan(200));
    }

    // ---- live output ----

    /** One StreamOutput call as an agent would make it. */
    private final class OutputCall {
        final List<OutputAck> acks = new CopyOnWriteArrayList<>();
        final CompletableFuture<Status> ended = new CompletableFuture<>();
        final StreamObserver<OutputChunk> requests = NodeServiceGrpc.newStub(channel).streamOutput(new StreamObserver<>() {
            @Override
            public void onNext(OutputAck ack) {
                acks.add(ack);
            }

            @Override
            public void onError(Throwable t) {
                ended.complete(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
                ended.complete(Status.OK);
            }
        });

        synchronized OutputCall send(OutputChunk.Builder chunk) {
            requests.onNext(chunk.build());
            return this;
        }

        OutputAck ack(int count) {
            await().atMost(Duration.ofSeconds(5)).until(() -> acks.size() >= count);
            return acks.get(count - 1);
        }
    }

    private static OutputChunk.Builder chunk(String workerId, Assignment a, OutputStream stream, long offset,
                                             String data) {
        return OutputChunk.newBuilder().setWorkerId(workerId).setSessionId("session-of-" + workerId)
                .setTaskId(a.getTaskId()).setAttemptId(a.getAttemptId()).setStream(stream).setOffset(offset)
                .setData(ByteString.copyFromUtf8(data));
    }

    private String stored(Assignment a, StdStream stream) {
        long[] from = {0};
        StringBuilder text = new StringBuilder();
        new OutputReader(output).read(a.getAttemptId(), List.of(stream), from, 1 << 20, true).segments()
                .forEach(segment -> text.append(segment.shown()));
        return text.toString();
    }

    @Test
    void outputOfTheHoldersAttemptIsStoredAndAcknowledgedUpToItsDurableEnd() throws Exception {
        Agent agent = connect("w1", 1);
        Assignment a = assignedTo(agent, "echo hello world");
        OutputCall call = new OutputCall();
        call.send(chunk("w1", a, OutputStream.STDOUT, 0, "hello "));
        assertThat(call.ack(1).getStoredTo()).isEqualTo(6);
        call.send(chunk("w1", a, OutputStream.STDOUT, 6, "world\n"));
        assertThat(call.ack(2).getStoredTo()).isEqualTo(12);
        call.send(chunk("w1", a, OutputStream.STDERR, 0, "oops\n"));
        assertThat(call.ack(3).getStream()).isEqualTo(OutputStream.STDERR);
        assertThat(call.ack(3).getStoredTo()).isEqualTo(5);
        // Sent again after a reconnect, overlapping what is stored: nothing is stored twice.
        call.send(chunk("w1", a, OutputStream.STDOUT, 0, "hello world\nbye\n"));
        assertThat(call.ack(4).getStoredTo()).isEqualTo(16);
        assertThat(call.acks).noneMatch(OutputAck::getRefused);
        assertThat(stored(a, StdStream.STDOUT)).isEqualTo("hello world\nbye\n");
        assertThat(stored(a, StdStream.STDERR)).isEqualTo("oops\n");
        assertThat(call.ended).isNotDone();
    }

    @Test
    void outputOfAnAttemptTheConnectionDoesNotHoldIsRefusedAndNotStored() throws Exception {
        Agent holder = connect("w1", 1);
        connect("w2", 1);
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.all().size() == 2);
        Assignment a = assignedTo(holder, "sleep 1");
        OutputCall forged = new OutputCall().send(chunk("w2", a, OutputStream.STDOUT, 0, "forged"));
        assertThat(forged.ack(1).getRefused()).isTrue();
        assertThat(output.hasChunks(a.getAttemptId())).isFalse();

        // Over once reported: what comes after is refused too.
        report(finished("w1", holder.session, a));
        OutputCall late = new OutputCall().send(chunk("w1", a, OutputStream.STDOUT, 0, "late"));
        assertThat(late.ack(1).getRefused()).isTrue();
        assertThat(output.hasChunks(a.getAttemptId())).isFalse();
    }

    @Test
    void malformedChunksOrChunksOfNoRegisteredConnectionEndTheCall() throws Exception {
        Agent agent = connect("w1", 1);
        Assignment a = assignedTo(agent, "true");
        assertThat(new OutputCall().send(chunk("w1", a, OutputStream.OUTPUT_STREAM_UNSPECIFIED, 0, "x"))
                .ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(new OutputCall().send(chunk("w1", a, OutputStream.STDOUT, -1, "x"))
                .ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(new OutputCall().send(chunk("w1", a, OutputStream.STDOUT, 0, ""))
                .ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(new OutputCall().send(chunk("w1", a, OutputStream.STDOUT, 0, "x".repeat(64 * 1024 + 1)))
                .ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(new OutputCall().send(chunk("w1", a, OutputStream.STDOUT, 1L << 53, "x"))
                .ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        // Starts at the largest offset a reader may ask for, so it would end past it.
        assertThat(new OutputCall().send(chunk("w1", a, OutputStream.STDOUT, OutputWindow.MAX_OFFSET, "x"))
                .ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(new OutputCall().send(chunk("w1", a, OutputStream.STDOUT, 0, "x").setAttemptId("../x"))
                .ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(new OutputCall().send(chunk("w1", a, OutputStream.STDOUT, 0, "x").setSessionId("not-the-session"))
                .ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
        OutputCall switching = new OutputCall().send(chunk("w1", a, OutputStream.STDOUT, 0, "x"));
        switching.ack(1);
        assertThat(switching.send(chunk("w2", a, OutputStream.STDOUT, 1, "y")).ended.get(5, TimeUnit.SECONDS)
                .getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(stored(a, StdStream.STDOUT)).isEqualTo("x");
    }

    @Test
    void theMasterKeepsTheHeadAndTheTailOfAChattyStreamWhateverTheAgentSends() throws Exception {
        Agent agent = connect("w1", 1);
        Assignment a = assignedTo(agent, "yes");
        OutputCall call = new OutputCall();
        StringBuilder printed = new StringBuilder();
        for (int i = 0; i < 30; i++) {
            String line = String.format("line %04d %s\n", i, "x".repeat(89)); // 100 bytes
            call.send(chunk("w1", a, OutputStream.STDOUT, printed.length(), line));
            printed.append(line);
            call.ack(i + 1);
        }
        // limit 1024: the first 512 bytes and the last 512, the 1976 between dropped
        String expected = printed.substring(0, 512) + "\n[taskgrid: 1976 bytes dropped]\n"
                + printed.substring(printed.length() - 512);
        assertThat(stored(a, StdStream.STDOUT)).isEqualTo(expected);
        long rows = TestDatabase.rows(TestDatabase.h2(dir), "SELECT ID FROM TG_OUTPUT_CHUNK WHERE ATTEMPT_ID = '"
                + a.getAttemptId() + "'").size();
        assertThat(rows).as("rows out of the tail window are deleted").isLessThanOrEqualTo(6 + 7);
    }

    @Test
    void aFinalReportRebuildsStreamedOutputThatFellShort() throws Exception {
        Agent agent = connect("w1", 1);
        Assignment a = assignedTo(agent, "make");
        OutputCall call = new OutputCall().send(chunk("w1", a, OutputStream.STDOUT, 0, "a".repeat(100)));
        call.ack(1);
        // The agent restarted: the rest of its output comes only with its result, head, marker and tail.
        String head = "a".repeat(512);
        String tail = "z".repeat(511) + "\n";
        String kept = head + "\n[taskgrid: 2000 bytes dropped]\n" + tail;
        report(finished("w1", agent.session, a).setStdout(ByteString.copyFromUtf8(kept)).setStdoutTruncated(true)
                .setStdoutTotalBytes(3024).setStderrTotalBytes(0));
        assertThat(stored(a, StdStream.STDOUT)).isEqualTo(kept);
        assertThat(row(a.getTaskId(), "STDOUT_TEXT")).containsExactly(kept);
        assertThat(output.header(a.getTaskId()).orElseThrow().stdoutTruncated()).isTrue();
        assertThat(output.storedEnd(a.getAttemptId(), StdStream.STDOUT)).isEqualTo(3024);
    }
}
