package io.taskgrid.master.api;

import io.taskgrid.master.cluster.ThisMaster;
import io.taskgrid.master.config.TaskgridConfig;
import io.taskgrid.master.output.OutputReader;
import io.taskgrid.master.output.OutputSignals;
import io.taskgrid.master.output.OutputStore;
import io.taskgrid.master.output.OutputWindow;
import io.taskgrid.master.output.StdStream;
import io.taskgrid.master.task.TaskIds;
import io.taskgrid.master.text.SafeText;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import jakarta.json.Json;
import jakarta.json.JsonObjectBuilder;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.StreamingOutput;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * {@code GET /tasks/{id}/output}: what is stored of a task's output from an offset on, as plain text, or followed as
 * Server-Sent Events until the task ends.
 *
 * <p>A follower holds a request thread for as long as it follows, so followers are counted
 * ({@code taskgrid.output.max.followers}; beyond it 503). It reads the table only when woken by new output or the end
 * of the task ({@link OutputSignals}), and otherwise sends a comment every {@link #HEARTBEAT_MILLIS}, which keeps
 * proxies from closing a quiet connection and tells the master when the client has gone. Event ids are byte offsets,
 * so a client that reconnects with {@code Last-Event-ID} continues where it was.
 */
@ApplicationScoped
public class TaskOutputs {

    static final long HEARTBEAT_MILLIS = 15_000;
    /**
     * How often a follower of a quiet task looks at the task again without being woken: a task can end without a report
     * or new output (cancelled while queued, its worker lost), and its followers should hear of it within this.
     */
    static final long STATE_RECHECK_MILLIS = 2_000;
    /**
     * The same on a master that is not active: the output and the task's changes are written by another master, whose
     * writes wake no follower here, so followers look this often.
     */
    static final long ELSEWHERE_RECHECK_MILLIS = 250;
    /** Bytes read per stream at once, by a follower or a plain read. */
    static final int READ_BYTES = 256 * 1024;
    static final MediaType EVENT_STREAM = MediaType.SERVER_SENT_EVENTS_TYPE;
    /**
     * How long a follow lasts while nothing happens (no output, no new attempt, no change of state): a task that never
     * starts (its requires offered by no worker, say) must not hold a request thread and a follower's place for ever.
     * The follower is then sent an {@code idle} event and the stream ends; it may follow again.
     */
    static final long IDLE_MILLIS = 10 * 60_000;
    private static final Pattern OFFSET = Pattern.compile("[0-9]{1,16}");

    @Inject
    OutputStore store;

    @Inject
    HeavyReads heavyReads;

    @Inject
    TaskgridConfig config;

    @Inject
    ThisMaster thisMaster;

    private Semaphore followers;
    /** Follows under way per caller; guarded by itself. Callers without one have no entry. */
    private final java.util.Map<String, Integer> followsBy = new java.util.HashMap<>();
    /** {@link #IDLE_MILLIS}; shorter in tests. */
    long idleMillis = IDLE_MILLIS;

    private long recheckMillis() {
        return thisMaster != null && !thisMaster.holdsEveryTask() ? ELSEWHERE_RECHECK_MILLIS : STATE_RECHECK_MILLIS;
    }

    /** The request as parsed: which streams, from where, followed or not. */
    record Request(List<StdStream> streams, long[] cursors, boolean follow) {
    }

    private synchronized Semaphore followers() {
        if (followers == null) {
            followers = new Semaphore(Math.max(1, config.maxOutputFollowers()));
        }
        return followers;
    }

    public Response serve(String id, String stream, String offset, String follow, String accept, String lastEventId,
                          String caller) {
        Request request = parse(stream, offset, follow, accept, lastEventId);
        if (!TaskIds.looksValid(id)) {
            throw ApiProblem.notFound("no task with id '" + SafeText.echo(id) + "'");
        }
        if (request.follow()) {
            return follow(id, request, caller);
        }
        return heavyReads.answer(() -> plain(id, request));
    }

    static Request parse(String stream, String offset, String follow, String accept, String lastEventId) {
        List<StdStream> streams = switch (stream == null || stream.isEmpty() ? "stdout" : stream) {
            case "stdout" -> List.of(StdStream.STDOUT);
            case "stderr" -> List.of(StdStream.STDERR);
            case "both" -> List.of(StdStream.STDOUT, StdStream.STDERR);
            default -> throw ApiProblem.badRequest("'stream' must be stdout, stderr or both; got '"
                    + SafeText.echo(stream) + "'");
        };
        boolean following = switch (follow == null || follow.isEmpty() ? "false" : follow) {
            case "true" -> true;
            case "false" -> accept != null && accept.contains(MediaType.SERVER_SENT_EVENTS);
            default -> throw ApiProblem.badRequest("'follow' must be true or false; got '" + SafeText.echo(follow)
                    + "'");
        };
        long[] cursors = new long[streams.size()];
        if (offset != null && !offset.isEmpty()) {
            cursors = offsets(offset, streams.size(), "'offset'");
        }
        if (following && lastEventId != null && !lastEventId.isEmpty()) {
            cursors = offsets(lastEventId, streams.size(), "Last-Event-ID");
        }
        return new Request(streams, cursors, following);
    }

    /** "N" for one stream, "N,M" (stdout, stderr) for both; byte offsets from 0 to {@link OutputWindow#MAX_OFFSET}. */
    static long[] offsets(String value, int count, String what) {
        String[] fields = value.split(",", -1);
        if (fields.length != count) {
            throw ApiProblem.badRequest(what + " must be " + (count == 1 ? "a byte offset (a whole number from 0)"
                    : "two byte offsets, stdout's and stderr's, as N,M") + "; got '" + SafeText.echo(value) + "'");
        }
        long[] offsets = new long[count];
        for (int i = 0; i < count; i++) {
            if (!OFFSET.matcher(fields[i]).matches() || Long.parseLong(fields[i]) > OutputWindow.MAX_OFFSET) {
                throw ApiProblem.badRequest(what + " must hold whole numbers from 0 to " + OutputWindow.MAX_OFFSET
                        + "; got '" + SafeText.echo(value) + "'");
            }
            offsets[i] = Long.parseLong(fields[i]);
        }
        return offsets;
    }

    private OutputStore.TaskHeader header(String id) {
        return store.header(id).orElseThrow(() -> ApiProblem.notFound("no task with id '" + id + "'"));
    }

    private Response plain(String id, Request request) {
        OutputStore.TaskHeader task = header(id);
        long[] cursors = request.cursors().clone();
        StringBuilder text = new StringBuilder();
        String attempt = task.attemptId();
        if (attempt != null && store.hasChunks(attempt)) {
            OutputReader.Batch batch;
            do {
                batch = new OutputReader(store).read(attempt, request.streams(), cursors, READ_BYTES, task.isFinal());
                batch.segments().forEach(s -> text.append(s.shown()));
            } while (batch.more());
        } else if (task.isFinal()) {
            new OutputReader(store).readFinalText(id, request.streams(), cursors)
                    .forEach(s -> text.append(s.shown()));
        }
        boolean truncated = (request.streams().contains(StdStream.STDOUT) && task.stdoutTruncated())
                || (request.streams().contains(StdStream.STDERR) && task.stderrTruncated());
        Response.ResponseBuilder response = Response.ok(text.toString(), MediaType.TEXT_PLAIN_TYPE.withCharset("UTF-8"))
                .header("Taskgrid-Output-Truncated", Boolean.toString(truncated))
                .header("Taskgrid-Output-Next-Offset", eventId(cursors))
                .header("Taskgrid-Task-State", task.state());
        if (attempt != null) {
            response.header("Taskgrid-Attempt", attempt);
        }
        return response.build();
    }

    private Response follow(String id, Request request, String caller) {
        return Response.ok(follower(id, request, caller), EVENT_STREAM)
                .header("Cache-Control", "no-cache")
                .header("X-Accel-Buffering", "no")
                .build();
    }

    /** The body that follows the task, holding a follower's place until it is done; 503 when none is free. */
    StreamingOutput follower(String id, Request request, String caller) {
        header(id);
        String who = caller == null ? "" : caller;
        int perCaller = config.maxOutputFollowersPerCaller();
        synchronized (followsBy) {
            int mine = followsBy.getOrDefault(who, 0);
            if (mine >= perCaller) {
                throw ApiProblem.tooManyTasks(SafeText.oneLine(who, 128) + " follows task output " + mine
                        + " times already, as often as one caller may at once (taskgrid.output.max.followers.per."
                        + "caller); end one, or read without following", 5).titled("Too many follows");
            }
            followsBy.merge(who, 1, Integer::sum);
        }
        Semaphore permits = followers();
        if (!permits.tryAcquire()) {
            unfollow(who);
            throw ApiProblem.busy(config.maxOutputFollowers() + " clients follow task output on this master already "
                    + "(taskgrid.output.max.followers); try again later, or read it without following", 5);
        }
        return out -> {
            try {
                new Follower(id, request, out).run();
            } catch (IOException gone) {
                // The client went away (seen at the latest by the next heartbeat): nothing to answer.
            } finally {
                permits.release();
                unfollow(who);
            }
        };
    }

    private void unfollow(String caller) {
        synchronized (followsBy) {
            followsBy.computeIfPresent(caller, (c, n) -> n <= 1 ? null : n - 1);
        }
    }

    /** One client following one task, on the request's thread, until the task ends or the client goes. */
    private final class Follower {
        private final String taskId;
        private final Request request;
        private final OutputStream out;
        /** Where the reads are. */
        private final long[] cursors;
        /** Where the events sent so far end: their ids. */
        private final long[] sent;
        /** When the client was last sent anything, for the heartbeat. */
        private long lastWrite = System.nanoTime();
        /** When something last happened to the task (output, an attempt, a change of state), for the idle bound. */
        private long lastProgress = System.nanoTime();

        Follower(String taskId, Request request, OutputStream out) {
            this.taskId = taskId;
            this.request = request;
            this.out = out;
            this.cursors = request.cursors().clone();
            this.sent = request.cursors().clone();
        }

        void run() throws IOException {
            OutputSignals.Signal signal = store.signals().follow(taskId);
            try {
                // At once, so the client sees the answer's headers before the first output.
                write(": following task " + taskId + "\n\n");
                OutputReader reader = new OutputReader(store);
                String attempt = null;
                String state = null;
                boolean streamed = false;
                while (true) {
                    long seen = signal.version();
                    Optional<OutputStore.TaskHeader> found = store.header(taskId);
                    if (found.isEmpty()) {
                        event("end", Json.createObjectBuilder().add("state", "DELETED"));
                        return;
                    }
                    OutputStore.TaskHeader task = found.get();
                    if (!task.state().equals(state)) {
                        state = task.state();
                        lastProgress = System.nanoTime();
                    }
                    if (task.attemptId() != null && !task.attemptId().equals(attempt)) {
                        if (attempt != null) {
                            // The task runs again (a retry, a lost worker): its new attempt's output from the start.
                            Arrays.fill(cursors, 0);
                            Arrays.fill(sent, 0);
                            streamed = false;
                            lastProgress = System.nanoTime();
                            event("attempt", Json.createObjectBuilder().add("attempt", task.attemptId()));
                        }
                        attempt = task.attemptId();
                    }
                    boolean more = false;
                    if (attempt != null && (streamed || store.hasChunks(attempt))) {
                        streamed = true;
                        OutputReader.Batch batch = reader.read(attempt, request.streams(), cursors, READ_BYTES,
                                task.isFinal());
                        for (OutputReader.Segment segment : batch.segments()) {
                            send(segment);
                        }
                        more = batch.more();
                    } else if (task.isFinal()) {
                        for (OutputReader.Segment segment : reader.readFinalText(taskId, request.streams(), cursors)) {
                            send(segment);
                        }
                    }
                    if (task.isFinal() && !more) {
                        JsonObjectBuilder end = Json.createObjectBuilder().add("state", task.state())
                                .add("stdoutTruncated", task.stdoutTruncated())
                                .add("stderrTruncated", task.stderrTruncated());
                        if (task.exitCode() == null) {
                            end.addNull("exitCode");
                        } else {
                            end.add("exitCode", task.exitCode());
                        }
                        event("end", end);
                        return;
                    }
                    out.flush();
                    if (!more && System.nanoTime() - lastProgress >= TimeUnit.MILLISECONDS.toNanos(idleMillis)) {
                        event("idle", Json.createObjectBuilder().add("state", task.state())
                                .add("idleSeconds", idleMillis / 1000));
                        return;
                    }
                    if (!more && !signal.await(seen, recheckMillis())
                            && System.nanoTime() - lastWrite >= TimeUnit.MILLISECONDS.toNanos(HEARTBEAT_MILLIS)) {
                        write(": heartbeat\n\n");
                        out.flush();
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                store.signals().unfollow(taskId);
            }
        }

        private void send(OutputReader.Segment segment) throws IOException {
            lastProgress = System.nanoTime();
            JsonObjectBuilder data = Json.createObjectBuilder().add("stream", segment.stream().column())
                    .add("offset", segment.offset());
            sent[request.streams().indexOf(segment.stream())] = segment.next();
            if (segment.isGap()) {
                write("id: " + eventId(sent) + "\nevent: dropped\ndata: "
                        + data.add("bytes", segment.dropped()).build() + "\n\n");
            } else {
                write("id: " + eventId(sent) + "\nevent: output\ndata: " + data.add("text", segment.text()).build()
                        + "\n\n");
            }
        }

        private void event(String name, JsonObjectBuilder data) throws IOException {
            write("event: " + name + "\ndata: " + data.build() + "\n\n");
            out.flush();
        }

        private void write(String text) throws IOException {
            lastWrite = System.nanoTime();
            out.write(text.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Offsets as an event id: "N", or "N,M" for both streams. */
    static String eventId(long[] offsets) {
        StringBuilder id = new StringBuilder();
        for (long offset : offsets) {
            if (id.length() > 0) {
                id.append(',');
            }
            id.append(offset);
        }
        return id.toString();
    }
}
