package io.taskgrid.agent;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.taskgrid.proto.v1.AssignTaskRequest;
import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.DrainAck;
import io.taskgrid.proto.v1.DrainRequest;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import io.taskgrid.proto.v1.OutputAck;
import io.taskgrid.proto.v1.OutputChunk;
import io.taskgrid.proto.v1.Registered;
import io.taskgrid.proto.v1.ReportAck;
import io.taskgrid.proto.v1.StatusReport;
import io.taskgrid.proto.v1.WorkerCommand;

import java.io.ByteArrayOutputStream;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * A master as the agent sees it, in process: it records what the agent sends, answers reports as the test tells it,
 * and lets the test push commands down the agent's stream or end it.
 */
final class FakeMaster extends NodeServiceGrpc.NodeServiceImplBase {

    private static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    final BlockingQueue<AssignTaskRequest> registrations = new LinkedBlockingQueue<>();
    final BlockingQueue<StatusReport> reports = new LinkedBlockingQueue<>();
    /** Every Drain the agent asked for, in order. */
    final BlockingQueue<DrainRequest> drains = new LinkedBlockingQueue<>();
    final Queue<String> authorizations = new ConcurrentLinkedQueue<>();
    /** True: every call is refused as a master refuses an unknown join token. */
    volatile boolean refuseToken;
    /** The method of every call refused so, in order. */
    final Queue<String> refusedCalls = new ConcurrentLinkedQueue<>();
    /** Attempt ids the next registration tells the agent it does not know. */
    volatile List<String> refuseClaims = List.of();
    /** How a report is answered: OK, or the status it fails with. */
    volatile Function<StatusReport, Status> verdict = report -> Status.OK;
    private volatile ServerCallStreamObserver<WorkerCommand> stream;
    /** Every output chunk the agent sent, in order. */
    final BlockingQueue<OutputChunk> chunks = new LinkedBlockingQueue<>();
    /** Whether chunks are acknowledged (false: as if the master never stored them). */
    volatile boolean ackOutput = true;
    /** False: a master of an earlier release, without StreamOutput. */
    volatile boolean outputSupported = true;
    /** What was stored per attempt and stream ("attempt/STDOUT"), without gaps or repeats. */
    private final Map<String, ByteArrayOutputStream> output = new ConcurrentHashMap<>();
    private volatile StreamObserver<OutputAck> outputCall;

    @Override
    public void assignTask(AssignTaskRequest request, StreamObserver<WorkerCommand> observer) {
        // A stream observer takes one writer at a time: the test's thread writes through the same lock.
        synchronized (this) {
            stream = (ServerCallStreamObserver<WorkerCommand>) observer;
            observer.onNext(WorkerCommand.newBuilder()
                    .setRegistered(Registered.newBuilder().addAllRefusedAttemptIds(refuseClaims)).build());
        }
        registrations.add(request);
    }

    @Override
    public void reportStatus(StatusReport report, StreamObserver<ReportAck> observer) {
        // Decided before the test can see the report, so that a test changing the verdict next affects later ones.
        Status status = verdict.apply(report);
        reports.add(report);
        if (status.isOk()) {
            observer.onNext(ReportAck.newBuilder().setApplied(true).build());
            observer.onCompleted();
        } else {
            observer.onError(status.asRuntimeException());
        }
    }

    @Override
    public void drain(DrainRequest request, StreamObserver<DrainAck> observer) {
        drains.add(request);
        observer.onNext(DrainAck.getDefaultInstance());
        observer.onCompleted();
    }

    @Override
    public StreamObserver<OutputChunk> streamOutput(StreamObserver<OutputAck> acks) {
        if (!outputSupported) {
            return super.streamOutput(acks);
        }
        outputCall = acks;
        return new StreamObserver<>() {
            @Override
            public void onNext(OutputChunk chunk) {
                chunks.add(chunk);
                if (!ackOutput) {
                    return;
                }
                ByteArrayOutputStream stored = output.computeIfAbsent(chunk.getAttemptId() + "/" + chunk.getStream(),
                        k -> new ByteArrayOutputStream());
                long end;
                synchronized (stored) {
                    long skip = stored.size() - chunk.getOffset();
                    if (skip >= 0 && skip < chunk.getData().size()) {
                        stored.write(chunk.getData().toByteArray(), (int) skip, chunk.getData().size() - (int) skip);
                    }
                    end = stored.size();
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

    synchronized void assign(String taskId, String attemptId, String cmd) {
        assign(taskId, attemptId, cmd, Map.of());
    }

    /** Sends an assignment with these environment variables (the task's env and secretEnv, as the master merges them). */
    synchronized void assign(String taskId, String attemptId, String cmd, Map<String, String> env) {
        stream.onNext(WorkerCommand.newBuilder().setAssignment(Assignment.newBuilder().setTaskId(taskId)
                .setAttemptId(attemptId).setCmd(cmd).setTimeoutSeconds(30).setOutputLimitBytes(4096).putAllEnv(env))
                .build());
    }

    /** Ends the agent's stream as a master going away would. */
    synchronized void dropStream() {
        stream.onError(Status.UNAVAILABLE.withDescription("the test dropped the stream").asRuntimeException());
    }

    AssignTaskRequest nextRegistration() throws InterruptedException {
        AssignTaskRequest request = registrations.poll(10, TimeUnit.SECONDS);
        if (request == null) {
            throw new AssertionError("the agent did not register within 10 s");
        }
        return request;
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
