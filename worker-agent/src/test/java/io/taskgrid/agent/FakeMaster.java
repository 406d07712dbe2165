package io.taskgrid.agent;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.taskgrid.proto.v1.Acks;
import io.taskgrid.proto.v1.AgentMessage;
import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.Assignments;
import io.taskgrid.proto.v1.CancelAttempt;
import io.taskgrid.proto.v1.DrainAck;
import io.taskgrid.proto.v1.DrainRequest;
import io.taskgrid.proto.v1.Hello;
import io.taskgrid.proto.v1.MasterMessage;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import io.taskgrid.proto.v1.OutputAck;
import io.taskgrid.proto.v1.OutputChunk;
import io.taskgrid.proto.v1.Registered;
import io.taskgrid.proto.v1.ReportAck;
import io.taskgrid.proto.v1.StatusReport;
import io.taskgrid.proto.v1.Verdict;

import java.io.ByteArrayOutputStream;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * A master as the agent sees it, in process, speaking protocol 2: it records every Hello, report and drain the agent
 * sends on its Connect stream, answers reports with the verdict the test chooses, and lets the test send assignments
 * and cancels down the stream, or end it.
 */
final class FakeMaster extends NodeServiceGrpc.NodeServiceImplBase {

    private static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    /** Every Hello, in order. */
    final BlockingQueue<Hello> hellos = new LinkedBlockingQueue<>();
    /** Claims the next Registered names as no longer current (the agent must stop them, never start them). */
    volatile List<String> staleClaims = List.of();
    /** True: the next Hello is answered only by {@link #releaseRegistered()}. */
    volatile boolean holdRegistered;
    private StreamObserver<MasterMessage> heldRegistration;
    /** Every report, in the order they came. */
    final BlockingQueue<StatusReport> reports = new LinkedBlockingQueue<>();
    /** What each Reports message carried ("a1 FINISHED"), in order. */
    final Queue<List<String>> reportBatches = new ConcurrentLinkedQueue<>();
    /** What the agent sent, one line each ("hello", "drain", "report a1 FINISHED RETURNED"), in order. */
    final Queue<String> events = new ConcurrentLinkedQueue<>();
    /** Every drain the agent asked for, in order. */
    final BlockingQueue<DrainRequest> drains = new LinkedBlockingQueue<>();
    final Queue<String> authorizations = new ConcurrentLinkedQueue<>();
    /** How many Connect calls reached the service (past the token check). */
    final AtomicInteger connects = new AtomicInteger();
    /** True: every call is refused as a master refuses an unknown join token. */
    volatile boolean refuseToken;
    /** Set: every Connect ends with FAILED_PRECONDITION, as a master of another protocol answers. */
    volatile String refuseProtocol;
    /** The method of every call refused so, in order. */
    final Queue<String> refusedCalls = new ConcurrentLinkedQueue<>();
    /** Attempt ids the next registration tells the agent it does not know. */
    volatile List<String> refuseClaims = List.of();
    /** How a report is answered. */
    volatile Function<StatusReport, Verdict> verdict = report -> Verdict.TAKEN;
    /** Set: the handler of the next Reports message waits for it (the agent's writer is held up meanwhile). */
    volatile CountDownLatch holdReports;
    private volatile StreamObserver<MasterMessage> stream;
    /** Every output chunk the agent sent, in order. */
    final BlockingQueue<OutputChunk> chunks = new LinkedBlockingQueue<>();
    /** How many StreamOutput calls the agent opened. */
    final AtomicInteger outputCalls = new AtomicInteger();
    /** Whether chunks are acknowledged (false: as if the master never stored them). */
    volatile boolean ackOutput = true;
    /** What was stored per attempt and stream ("attempt/STDOUT"), without gaps or repeats. */
    private final Map<String, ByteArrayOutputStream> output = new ConcurrentHashMap<>();
    private volatile StreamObserver<OutputAck> outputCall;
    /** Up to which offset each stream ("attempt/STDOUT") is stored. */
    private final Map<String, Long> storedTo = new ConcurrentHashMap<>();

    @Override
    public StreamObserver<AgentMessage> connect(StreamObserver<MasterMessage> observer) {
        connects.incrementAndGet();
        return new StreamObserver<>() {
            private boolean helloSeen;

            @Override
            public void onNext(AgentMessage message) {
                switch (message.getKindCase()) {
                    case HELLO -> {
                        helloSeen = true;
                        events.add("hello");
                        hello(message.getHello(), observer);
                    }
                    case REPORTS -> {
                        CountDownLatch hold = holdReports;
                        if (hold != null) {
                            holdReports = null;
                            await(hold);
                        }
                        List<StatusReport> batch = message.getReports().getReportsList();
                        reportBatches.add(batch.stream().map(r -> r.getAttemptId() + " " + r.getPhase()).toList());
                        Acks.Builder acks = Acks.newBuilder();
                        for (StatusReport report : batch) {
                            // Decided before the test can see the report, so that a test changing the verdict next
                            // affects later ones.
                            Verdict answer = verdict.apply(report);
                            events.add("report " + report.getAttemptId() + " " + report.getPhase()
                                    + (report.getPhase() == io.taskgrid.proto.v1.Phase.FINISHED
                                    ? " " + report.getOutcome() : ""));
                            reports.add(report);
                            acks.addAcks(ReportAck.newBuilder().setSeq(report.getSeq()).setVerdict(answer)
                                    .setApplied(answer == Verdict.TAKEN).setReason("the test says " + answer));
                        }
                        send(observer, MasterMessage.newBuilder().setAcks(acks).build());
                    }
                    case DRAIN -> {
                        events.add("drain");
                        drains.add(message.getDrain());
                        send(observer, MasterMessage.newBuilder().setDrained(DrainAck.getDefaultInstance()).build());
                    }
                    default -> throw new AssertionError("unexpected " + message.getKindCase());
                }
                if (!helloSeen) {
                    throw new AssertionError("the first message was no Hello");
                }
            }

            @Override
            public void onError(Throwable t) {
            }

            @Override
            public void onCompleted() {
            }
        };
    }

    private void hello(Hello hello, StreamObserver<MasterMessage> observer) {
        String protocol = refuseProtocol;
        if (protocol != null) {
            hellos.add(hello);
            synchronized (this) {
                observer.onError(Status.FAILED_PRECONDITION.withDescription(protocol).asRuntimeException());
            }
            return;
        }
        synchronized (this) {
            stream = observer;
            if (holdRegistered) {
                heldRegistration = observer;
            } else {
                observer.onNext(registered());
            }
        }
        hellos.add(hello);
    }

    private MasterMessage registered() {
        return MasterMessage.newBuilder().setRegistered(Registered.newBuilder().addAllRefusedAttemptIds(refuseClaims)
                .addAllStaleAttemptIds(staleClaims)).build();
    }

    /** Sends the Registered held back ({@link #holdRegistered}) on the stream that said Hello. */
    synchronized void releaseRegistered() {
        holdRegistered = false;
        if (heldRegistration != null) {
            send(heldRegistration, registered());
            heldRegistration = null;
        }
    }

    /** A stream observer takes one writer at a time: the test's thread writes through the same lock. */
    private synchronized void send(StreamObserver<MasterMessage> observer, MasterMessage message) {
        try {
            observer.onNext(message);
        } catch (RuntimeException e) {
            // the stream is over
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            if (!latch.await(10, TimeUnit.SECONDS)) {
                throw new AssertionError("held reports were never let go");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public StreamObserver<OutputChunk> streamOutput(StreamObserver<OutputAck> acks) {
        outputCalls.incrementAndGet();
        outputCall = acks;
        return new StreamObserver<>() {
            @Override
            public void onNext(OutputChunk chunk) {
                if (chunks.isEmpty()) {
                    events.add("chunk");
                }
                chunks.add(chunk);
                if (!ackOutput) {
                    return;
                }
                String key = chunk.getAttemptId() + "/" + chunk.getStream();
                ByteArrayOutputStream stored = output.computeIfAbsent(key, k -> new ByteArrayOutputStream());
                long end;
                synchronized (stored) {
                    long had = storedTo.getOrDefault(key, 0L);
                    long skip = had - chunk.getOffset();
                    if (skip < 0) {
                        // The agent skipped ahead past the kept head: the gap is outside what is kept.
                        stored.write(chunk.getData().toByteArray(), 0, chunk.getData().size());
                        end = chunk.getOffset() + chunk.getData().size();
                    } else if (skip < chunk.getData().size()) {
                        stored.write(chunk.getData().toByteArray(), (int) skip, chunk.getData().size() - (int) skip);
                        end = had + chunk.getData().size() - skip;
                    } else {
                        end = had;
                    }
                    storedTo.put(key, end);
                }
                synchronized (acks) {
                    acks.onNext(OutputAck.newBuilder().setAttemptId(chunk.getAttemptId()).setStream(chunk.getStream())
                            .setStoredTo(end).build());
                }
            }

            @Override
            public void onError(Throwable t) {
            }

            @Override
            public void onCompleted() {
                synchronized (acks) {
                    acks.onCompleted();
                }
            }
        };
    }

    /** What the master stored of one stream of an attempt. */
    String output(String attemptId, String stream) {
        ByteArrayOutputStream stored = output.get(attemptId + "/" + stream);
        if (stored == null) {
            return "";
        }
        synchronized (stored) {
            return stored.toString(java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    /** Ends the agent's output call as a master going away would. */
    void dropOutputCall() {
        StreamObserver<OutputAck> call = outputCall;
        synchronized (call) {
            call.onError(Status.UNAVAILABLE.withDescription("the test dropped the output call").asRuntimeException());
        }
    }

    static Assignment assignment(String taskId, String attemptId, String cmd) {
        return Assignment.newBuilder().setTaskId(taskId).setAttemptId(attemptId).setCmd(cmd).setTimeoutSeconds(30)
                .setOutputLimitBytes(4096).build();
    }

    void assign(String taskId, String attemptId, String cmd) {
        assign(taskId, attemptId, cmd, Map.of());
    }

    /** Sends an assignment with these environment variables (the task's env and secretEnv, as the master merges them). */
    void assign(String taskId, String attemptId, String cmd, Map<String, String> env) {
        assign(assignment(taskId, attemptId, cmd).toBuilder().putAllEnv(env).build());
    }

    /** Sends these assignments in one message. */
    void assign(Assignment... assignments) {
        send(MasterMessage.newBuilder().setAssignments(Assignments.newBuilder().addAllAssignments(List.of(assignments)))
                .build());
    }

    void cancel(String taskId, String attemptId) {
        send(MasterMessage.newBuilder().setCancel(CancelAttempt.newBuilder().setTaskId(taskId).setAttemptId(attemptId))
                .build());
    }

    void giveBack(String... attemptIds) {
        send(MasterMessage.newBuilder().setGiveBack(io.taskgrid.proto.v1.GiveBack.newBuilder()
                .addAllAttemptIds(List.of(attemptIds))).build());
    }

    private void send(MasterMessage message) {
        StreamObserver<MasterMessage> current = stream;
        if (current == null) {
            throw new AssertionError("no agent is registered");
        }
        send(current, message);
    }

    /** Ends the agent's stream as a master going away would. */
    synchronized void dropStream() {
        StreamObserver<MasterMessage> current = stream;
        stream = null;
        current.onError(Status.UNAVAILABLE.withDescription("the test dropped the stream").asRuntimeException());
    }

    Hello nextHello() throws InterruptedException {
        Hello hello = hellos.poll(10, TimeUnit.SECONDS);
        if (hello == null) {
            throw new AssertionError("the agent did not say Hello within 10 s");
        }
        return hello;
    }

    StatusReport nextReport() throws InterruptedException {
        StatusReport report = reports.poll(10, TimeUnit.SECONDS);
        if (report == null) {
            throw new AssertionError("no report within 10 s");
        }
        return report;
    }

    /** Records the authorization header of every call, and refuses the call while {@link #refuseToken} says so. */
    ServerInterceptor headerRecorder() {
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                              ServerCallHandler<Q, R> next) {
                String authorization = headers.get(AUTHORIZATION);
                authorizations.add(authorization == null ? "(none)" : authorization);
                if (refuseToken) {
                    refusedCalls.add(call.getMethodDescriptor().getBareMethodName());
                    call.close(Status.UNAUTHENTICATED.withDescription("the join token is not valid on this master"),
                            new Metadata());
                    return new ServerCall.Listener<>() {
                    };
                }
                return next.startCall(call, headers);
            }
        };
    }
}
