package io.taskgrid.master.grpc;

import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import io.taskgrid.master.dispatch.ConnectedWorker;
import io.taskgrid.master.dispatch.Dispatcher;
import io.taskgrid.master.dispatch.WorkerRegistry;
import io.taskgrid.master.task.TaskIds;
import io.taskgrid.master.task.TaskState;
import io.taskgrid.proto.v1.AssignTaskRequest;
import io.taskgrid.proto.v1.DrainRequest;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.Phase;
import io.taskgrid.proto.v1.ReportAck;
import io.taskgrid.proto.v1.RunningAttempt;
import io.taskgrid.proto.v1.StatusReport;
import io.taskgrid.proto.v1.WorkerCommand;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The agent protocol as the master speaks it, over an in-process transport, with the store faked. */
class NodeServiceTest {

    private final WorkerRegistry registry = new WorkerRegistry();
    private final FakeTaskStore store = new FakeTaskStore();
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
    private GrpcServer server;
    private ManagedChannel channel;

    /** Dispatch itself is not under test here: passes are no-ops. */
    static final class InlineDispatcher extends Dispatcher {
        InlineDispatcher(WorkerRegistry registry) {
            super(null, registry, 30);
        }

        @Override
        public void requestDispatch() {
        }

        @Override
        public void workerConnected(ConnectedWorker worker, Map<String, String> claimed) {
        }
    }

    /** One agent connection as the test sees it: what the master sent down its stream, and how the stream ended. */
    private static final class Agent {
        final List<WorkerCommand> received = new CopyOnWriteArrayList<>();
        final CompletableFuture<Status> ended = new CompletableFuture<>();
    }

    @BeforeEach
    void start() {
        String name = InProcessServerBuilder.generateName();
        NodeService service = new NodeService();
        service.registry = registry;
        service.dispatcher = new InlineDispatcher(registry);
        service.store = store;
        service.outputLimitBytes = 1024;
        service.taskRefusalLimit = 10;
        service.workerRefusalLimit = 3;
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
    }

    private Agent connect(String workerId, int slots) {
        return connect(AssignTaskRequest.newBuilder().setWorkerId(workerId).setSlots(slots)
                .setSessionId("session-of-" + workerId));
    }

    private Agent connect(AssignTaskRequest.Builder request) {
        Agent agent = new Agent();
        NodeServiceGrpc.newStub(channel).assignTask(request.build(), new StreamObserver<>() {
            @Override
            public void onNext(WorkerCommand value) {
                agent.received.add(value);
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
        return agent;
    }

    private static StatusReport.Builder finished(String workerId, String taskId, String attemptId) {
        return StatusReport.newBuilder().setWorkerId(workerId).setSessionId("session-of-" + workerId)
                .setTaskId(taskId).setAttemptId(attemptId).setPhase(Phase.FINISHED).setOutcome(Outcome.EXITED)
                .setExitCode(0).setStdout(ByteString.copyFromUtf8("ok\n"));
    }

    private ReportAck report(StatusReport.Builder report) {
        return NodeServiceGrpc.newBlockingStub(channel).reportStatus(report.build());
    }

    private Status.Code refusal(StatusReport.Builder report) {
        try {
            report(report);
            throw new AssertionError("expected the report to be refused");
        } catch (StatusRuntimeException e) {
            return e.getStatus().getCode();
        }
    }

    @Test
    void aWorkerIsRegisteredWhileItsStreamIsOpenAndIsToldSoFirst() {
        Agent agent = connect("w1", 2);
        awaitTrue(() -> registry.get("w1").isPresent());
        assertThat(registry.get("w1").orElseThrow().slots()).isEqualTo(2);
        awaitTrue(() -> !agent.received.isEmpty());
        assertThat(agent.received.get(0).hasRegistered()).isTrue();
        assertThat(agent.received.get(0).getRegistered().getRefusedAttemptIdsList()).isEmpty();
    }

    @Test
    void badRegistrationsAreRefused() throws Exception {
        assertThat(connect("has space", 1).ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(connect("", 1).ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(connect("w1", 0).ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(connect("w1", 257).ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(connect(AssignTaskRequest.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("a\nb"))
                .ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(connect(AssignTaskRequest.newBuilder().setWorkerId("w1").setSlots(1).setSessionId(""))
                .ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        AssignTaskRequest.Builder tooManyClaims = AssignTaskRequest.newBuilder().setWorkerId("w1").setSlots(1)
                .setSessionId("s1");
        for (int i = 0; i <= NodeService.MAX_CLAIMS; i++) {
            tooManyClaims.addRunning(RunningAttempt.newBuilder().setTaskId(TaskIds.next()).setAttemptId(TaskIds.next()));
        }
        assertThat(connect(tooManyClaims).ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(connect(AssignTaskRequest.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("s1")
                .addRunning(RunningAttempt.newBuilder().setTaskId("../../etc").setAttemptId("x")))
                .ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(registry.all()).isEmpty();
    }

    @Test
    void aSecondConnectionForALiveIdIsRefusedAndTheFirstKeepsIt() throws Exception {
        Agent first = connect("w1", 1);
        awaitTrue(() -> registry.get("w1").isPresent());
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
        awaitTrue(() -> registry.all().size() == 2);
        channel.shutdownNow();
        awaitTrue(() -> registry.all().isEmpty());
    }

    @Test
    void drainStopsNewWorkForThatWorkerOnlyAndSaysWhy() {
        connect("w1", 1);
        connect("w2", 1);
        awaitTrue(() -> registry.all().size() == 2);
        NodeServiceGrpc.newBlockingStub(channel).drain(DrainRequest.newBuilder().setWorkerId("w1")
                .setSessionId("session-of-w1").build());
        assertThat(registry.get("w1").orElseThrow().isDraining()).isTrue();
        assertThat(registry.get("w1").orElseThrow().drainReason()).contains("shutting down");
        assertThat(registry.get("w2").orElseThrow().isDraining()).isFalse();
    }

    @Test
    void anAgentThatFailedToRegisterCannotDrainTheOneThatDid() throws Exception {
        connect(AssignTaskRequest.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("real"));
        awaitTrue(() -> registry.get("w1").isPresent());
        assertThat(connect(AssignTaskRequest.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("impostor"))
                .ended.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.ALREADY_EXISTS);
        assertThatThrownBy(() -> NodeServiceGrpc.newBlockingStub(channel).drain(DrainRequest.newBuilder()
                .setWorkerId("w1").setSessionId("impostor").build()))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND));
        assertThat(registry.get("w1").orElseThrow().isDraining()).isFalse();
    }

    @Test
    void reportsWithMalformedIdsAreRefused() {
        assertThat(refusal(StatusReport.newBuilder().setWorkerId("w1"))).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(refusal(finished("w1", "not-a-task", TaskIds.next()))).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(store.calls).isEmpty();
    }

    /** The attack that worked before: a made-up, unconnected worker id reporting a result for a running attempt. */
    @Test
    void aClientThatIsNotTheConnectionHoldingAnAttemptCannotReportIt() {
        String task = TaskIds.next();
        String attempt = TaskIds.next();
        store.owns("w1", task, attempt);
        connect(AssignTaskRequest.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("session-of-w1")
                .addRunning(RunningAttempt.newBuilder().setTaskId(task).setAttemptId(attempt)));
        connect("intruder", 4);
        awaitTrue(() -> registry.all().size() == 2);

        assertThat(refusal(finished("ghost", task, attempt))).as("a worker id that is not connected")
                .isEqualTo(Status.Code.FAILED_PRECONDITION);
        assertThat(refusal(finished("w1", task, attempt).setSessionId("guessed"))).as("w1's id, another session")
                .isEqualTo(Status.Code.FAILED_PRECONDITION);
        assertThat(refusal(finished("intruder", task, attempt))).as("a connected worker, not the holder")
                .isEqualTo(Status.Code.PERMISSION_DENIED);
        assertThat(refusal(finished("intruder", task, attempt))).isEqualTo(Status.Code.PERMISSION_DENIED);
        assertThat(store.calls).as("nothing reached the store").isEmpty();
        assertThat(logged).filteredOn(r -> r.getMessage().contains("never handed to it")).as("logged once").hasSize(1);

        assertThat(report(finished("w1", task, attempt)).getApplied()).as("the holder itself").isTrue();
        assertThat(store.calls).containsExactly("finish " + attempt);
        assertThat(store.results.get(0).stdout()).isEqualTo("ok\n");
    }

    @Test
    void claimsOfAttemptsNeverHandedToTheWorkerAreRefusedAndNotHeld() {
        String own = TaskIds.next();
        String ownTask = TaskIds.next();
        String foreign = TaskIds.next();
        String foreignTask = TaskIds.next();
        String unknown = TaskIds.next();
        store.owns("w1", ownTask, own);
        store.owns("w2", foreignTask, foreign);
        Agent agent = connect(AssignTaskRequest.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("session-of-w1")
                .addRunning(RunningAttempt.newBuilder().setTaskId(ownTask).setAttemptId(own))
                .addRunning(RunningAttempt.newBuilder().setTaskId(foreignTask).setAttemptId(foreign))
                .addRunning(RunningAttempt.newBuilder().setTaskId(TaskIds.next()).setAttemptId(unknown)));
        awaitTrue(() -> !agent.received.isEmpty());
        assertThat(agent.received.get(0).getRegistered().getRefusedAttemptIdsList()).containsExactly(foreign, unknown);
        ConnectedWorker w1 = registry.get("w1").orElseThrow();
        assertThat(w1.holds(ownTask, own)).isTrue();
        assertThat(w1.holds(foreignTask, foreign)).isFalse();
        assertThat(refusal(finished("w1", foreignTask, foreign))).isEqualTo(Status.Code.PERMISSION_DENIED);
        assertThat(logged).filteredOn(r -> r.getMessage().contains("claimed 2 attempt(s)")).hasSize(1);
    }

    @Test
    void claimsBeyondTheSlotCountAreHeldSoNoResultIsLost() {
        AssignTaskRequest.Builder request = AssignTaskRequest.newBuilder().setWorkerId("w1").setSlots(1)
                .setSessionId("session-of-w1");
        for (int i = 0; i < 3; i++) {
            String task = TaskIds.next();
            String attempt = TaskIds.next();
            store.owns("w1", task, attempt);
            request.addRunning(RunningAttempt.newBuilder().setTaskId(task).setAttemptId(attempt));
        }
        connect(request);
        awaitTrue(() -> registry.get("w1").isPresent());
        assertThat(registry.get("w1").orElseThrow().running()).isEqualTo(3);
        assertThat(registry.get("w1").orElseThrow().canTakeTask()).isFalse();
    }

    @Test
    void anOwnAttemptTheWorkerNoLongerHoldsMayStillBeReported() {
        // After a report the store could not take, the slot was freed; the agent's retry must still be heard.
        String task = TaskIds.next();
        String attempt = TaskIds.next();
        store.owns("w1", task, attempt);
        connect("w1", 1);
        awaitTrue(() -> registry.get("w1").isPresent());
        assertThat(report(finished("w1", task, attempt)).getApplied()).isTrue();
        assertThat(store.calls).containsExactly("finish " + attempt);
    }

    @Test
    void whenTheStoreFailsTheSlotIsFreedAndTheTaskEndsWithAReason() {
        String task = TaskIds.next();
        String attempt = TaskIds.next();
        store.owns("w1", task, attempt);
        connect(AssignTaskRequest.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("session-of-w1")
                .addRunning(RunningAttempt.newBuilder().setTaskId(task).setAttemptId(attempt)));
        awaitTrue(() -> registry.get("w1").isPresent());
        store.failFinish = new IllegalStateException("value too long for column STDOUT_TEXT");

        ReportAck ack = report(finished("w1", task, attempt));

        assertThat(ack.getApplied()).isTrue();
        assertThat(store.calls).containsExactly("finish " + attempt, "unstorable " + attempt);
        assertThat(store.reasons.get(0)).contains("could not store").contains("value too long");
        assertThat(registry.get("w1").orElseThrow().running()).as("slot freed").isZero();
    }

    @Test
    void whenTheStoreCannotRecordAnythingTheAgentIsToldToSendAgainAndTheSlotIsStillFree() {
        String task = TaskIds.next();
        String attempt = TaskIds.next();
        store.owns("w1", task, attempt);
        connect(AssignTaskRequest.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("session-of-w1")
                .addRunning(RunningAttempt.newBuilder().setTaskId(task).setAttemptId(attempt)));
        awaitTrue(() -> registry.get("w1").isPresent());
        store.failFinish = new IllegalStateException("database down");
        store.failFallback = new IllegalStateException("database down");

        assertThat(refusal(finished("w1", task, attempt))).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(registry.get("w1").orElseThrow().running()).isZero();
    }

    @Test
    void aWorkerThatKeepsHandingTasksBackIsDrainedAndSaysWhy() {
        connect("w1", 1);
        awaitTrue(() -> registry.get("w1").isPresent());
        for (int i = 0; i < 3; i++) {
            String task = TaskIds.next();
            String attempt = TaskIds.next();
            store.owns("w1", task, attempt);
            report(finished("w1", task, attempt).setOutcome(Outcome.REJECTED).setReason("nope"));
        }
        ConnectedWorker worker = registry.get("w1").orElseThrow();
        assertThat(worker.isDraining()).isTrue();
        assertThat(worker.drainReason()).contains("handed back 3 tasks in a row");
        assertThat(worker.refusedTotal()).isEqualTo(3);
        assertThat(store.calls).allMatch(call -> call.endsWith("limit 10"));
    }

    @Test
    void runningATaskResetsTheCountOfRefusalsInARow() {
        connect("w1", 1);
        awaitTrue(() -> registry.get("w1").isPresent());
        for (int i = 0; i < 5; i++) {
            String task = TaskIds.next();
            String attempt = TaskIds.next();
            store.owns("w1", task, attempt);
            Outcome outcome = i % 2 == 0 ? Outcome.REJECTED : Outcome.EXITED;
            report(finished("w1", task, attempt).setOutcome(outcome));
        }
        assertThat(registry.get("w1").orElseThrow().isDraining()).isFalse();
    }

    @Test
    void whatAnAgentSaysReachesLogAndStoreOnOneLineAndCutToSize() {
        String task = TaskIds.next();
        String attempt = TaskIds.next();
        store.owns("w1", task, attempt);
        connect(AssignTaskRequest.newBuilder().setWorkerId("w1").setSlots(1).setSessionId("session-of-w1")
                .setAgentVersion("1.0\nSEVERE forged line " + "v".repeat(1000)));
        awaitTrue(() -> registry.get("w1").isPresent());
        report(finished("w1", task, attempt).setOutcome(Outcome.FAILED_TO_START)
                .setReason("no such dir\r\nINFO: forged " + "r".repeat(10_000)));

        String reason = store.results.get(0).reason();
        assertThat(reason).doesNotContain("\n").doesNotContain("\r").hasSizeLessThanOrEqualTo(2000);
        assertThat(store.results.get(0).state()).isEqualTo(TaskState.FAILED);
        assertThat(logged).allSatisfy(record -> assertThat(record.getMessage()).doesNotContain("\nSEVERE"));
        assertThat(logged).filteredOn(r -> r.getMessage().contains("connected")).singleElement()
                .satisfies(r -> assertThat(r.getMessage()).hasSizeLessThan(200));
    }

    private static void awaitTrue(BooleanSupplier condition) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not met within 5 s");
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        }
    }
}
