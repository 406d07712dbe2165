package io.taskgrid.master.grpc;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.taskgrid.master.dispatch.ConnectedWorker;
import io.taskgrid.proto.Protocol;
import io.taskgrid.proto.v1.AgentMessage;
import io.taskgrid.proto.v1.MasterMessage;
import io.taskgrid.proto.v1.ReportAck;
import io.taskgrid.proto.v1.StatusReport;
import io.taskgrid.proto.v1.Verdict;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One agent's Connect stream, as the master reads it: a Hello first, then reports and drains, for as long as it stays
 * open. The stream is the session: whoever wrote the Hello is the only one who can report on it, so a report carries
 * no credentials of its own and the join token was checked once, when the stream opened.
 *
 * <p>What an agent can make the master hold through it is bounded: the master reads the next message only while fewer
 * than {@link #MAX_PENDING_REPORTS} of its reports wait for their answer (gRPC flow control does the rest), and a
 * Reports message carries at most {@link Protocol#MAX_REPORTS_PER_MESSAGE}. The answers to one Reports message go out
 * together, in one Acks message, once all of them are durable.
 */
final class AgentStream implements StreamObserver<AgentMessage> {

    /** Far above what an agent has to report at once (its slots, prefetch and outbox), far below a burden. */
    static final int MAX_PENDING_REPORTS = 2048;

    private final NodeService service;
    private final ServerCallStreamObserver<MasterMessage> out;
    private final StreamWorkerChannel channel;
    private final AgentBounds.Connection connection;
    private final AgentBounds.Token token;
    private final AtomicInteger pendingReports = new AtomicInteger();
    /** Set once a message was not followed by a request for the next, because too many reports wait. */
    private final AtomicBoolean paused = new AtomicBoolean();
    private final AtomicBoolean gone = new AtomicBoolean();
    private volatile boolean helloSeen;
    private volatile NodeService.Registration registration;

    AgentStream(NodeService service, ServerCallStreamObserver<MasterMessage> out, long outputLimitBytes,
                AgentBounds.Connection connection, AgentBounds.Token token) {
        this.service = service;
        this.out = out;
        this.connection = connection;
        this.token = token;
        this.channel = new StreamWorkerChannel(out, outputLimitBytes);
        // Handlers may be set only now, before the stream is handed back to gRPC.
        out.setOnCancelHandler(this::gone);
        out.setOnReadyHandler(() -> {
            NodeService.Registration current = registration;
            if (current != null) {
                current.worker().seen(Instant.now());
                service.readyForMore();
            }
        });
        out.disableAutoRequest();
        out.request(1);
    }

    @Override
    public void onNext(AgentMessage message) {
        if (gone.get()) {
            return;
        }
        switch (message.getKindCase()) {
            case HELLO -> hello(message);
            case REPORTS -> reports(message.getReports().getReportsList());
            case DRAIN -> {
                NodeService.Registration current = registration;
                if (current == null) {
                    end(Status.INVALID_ARGUMENT.withDescription("the first message on a Connect stream must be a Hello"));
                    return;
                }
                channel.drained(service.drain(current.worker(), message.getDrain()));
            }
            default -> {
                end(Status.INVALID_ARGUMENT.withDescription("a message of a kind this master does not know: "
                        + message.getKindCase()));
                return;
            }
        }
        requestNext();
    }

    private void hello(AgentMessage message) {
        if (helloSeen) {
            end(Status.INVALID_ARGUMENT.withDescription("a Connect stream takes one Hello"));
            return;
        }
        helloSeen = true;
        registration = service.register(message.getHello(), out, channel, connection).orElse(null);
        if (registration == null) {
            gone.set(true);
        } else if (out.isCancelled()) {
            // The agent went while it was being registered: its cancel handler found nothing to undo.
            gone.set(false);
            gone();
        }
    }

    private void reports(List<StatusReport> reports) {
        NodeService.Registration current = registration;
        if (current == null) {
            end(Status.INVALID_ARGUMENT.withDescription("the first message on a Connect stream must be a Hello"));
            return;
        }
        if (reports.size() > Protocol.MAX_REPORTS_PER_MESSAGE) {
            end(Status.INVALID_ARGUMENT.withDescription("a Reports message carries at most "
                    + Protocol.MAX_REPORTS_PER_MESSAGE + " reports"));
            return;
        }
        if (reports.isEmpty()) {
            return;
        }
        if (!channel.isRegistered()) {
            // The agent should have waited for Registered: its claims are not checked yet.
            List<ReportAck> later = new ArrayList<>(reports.size());
            for (StatusReport report : reports) {
                later.add(ReportAck.newBuilder().setSeq(report.getSeq()).setVerdict(Verdict.RETRY)
                        .setReason("not registered yet: report after Registered").build());
            }
            channel.acks(later);
            return;
        }
        ConnectedWorker worker = current.worker();
        worker.seen(Instant.now());
        pendingReports.addAndGet(reports.size());
        List<CompletableFuture<ReportAck>> answers = new ArrayList<>(reports.size());
        for (StatusReport report : reports) {
            answers.add(service.take(worker, report, connection, token));
        }
        CompletableFuture.allOf(answers.toArray(CompletableFuture[]::new)).whenComplete((v, e) -> {
            List<ReportAck> acks = new ArrayList<>(answers.size());
            for (CompletableFuture<ReportAck> answer : answers) {
                // take() never fails; null: the connection closed meanwhile.
                ReportAck ack = answer.getNow(null);
                if (ack != null) {
                    acks.add(ack);
                }
            }
            if (!acks.isEmpty()) {
                channel.acks(acks);
            }
            if (pendingReports.addAndGet(-reports.size()) < MAX_PENDING_REPORTS && paused.compareAndSet(true, false)) {
                out.request(1);
            }
        });
    }

    private void requestNext() {
        if (gone.get()) {
            return;
        }
        if (pendingReports.get() < MAX_PENDING_REPORTS) {
            out.request(1);
        } else {
            paused.set(true);
            // The answers may all have come in between the check and the flag: look again.
            if (pendingReports.get() < MAX_PENDING_REPORTS && paused.compareAndSet(true, false)) {
                out.request(1);
            }
        }
    }

    @Override
    public void onError(Throwable t) {
        gone();
    }

    @Override
    public void onCompleted() {
        // The agent closed its side: it is done with this stream.
        if (!gone.get()) {
            gone();
            channel.complete();
        }
    }

    /** Ends the stream for a breach of the protocol: the worker goes as on a disconnect. */
    private void end(Status status) {
        if (!gone.get()) {
            gone();
            channel.fail(status.asRuntimeException());
        }
    }

    private void gone() {
        if (gone.compareAndSet(false, true)) {
            NodeService.Registration current = registration;
            if (current != null) {
                current.release().run();
            }
        }
    }

    @Override
    public String toString() {
        NodeService.Registration current = registration;
        return "AgentStream[" + (current == null ? "before Hello" : Objects.toString(current.worker().id())) + "]";
    }
}
