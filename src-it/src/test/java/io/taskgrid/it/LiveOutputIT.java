package io.taskgrid.it;

import jakarta.json.Json;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Live output on a real cluster: read while the task runs, followed as Server-Sent Events until it ends, resumed with
 * Last-Event-ID, capped to head and tail for megabytes, and how long a printed line takes to reach a follower.
 */
@ExtendWith(SharedCluster.class)
class LiveOutputIT {

    private static final Duration WAIT = Duration.ofSeconds(60);
    /** The master's heartbeat interval for a quiet follower. */
    private static final long HEARTBEAT_SECONDS = 15;
    private final TaskgridClient api = SharedCluster.client();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    /** One event or comment as a follower received it, with the wall-clock time it arrived. */
    record Received(String id, String event, String data, String comment, long arrivedNanos, long arrivedEpochNanos) {
        JsonObject json() {
            try (JsonReader reader = Json.createReader(new StringReader(data))) {
                return reader.readObject();
            }
        }
    }

    /** Follows {@code path} until the server ends the stream (or {@code until} holds), recording every event. */
    private List<Received> follow(String path, String lastEventId, Predicate<List<Received>> until) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(api.base() + path))
                .header("Authorization", "Bearer " + SharedCluster.cluster().apiToken())
                .header("Accept", "text/event-stream").GET();
        if (lastEventId != null) {
            request.header("Last-Event-ID", lastEventId);
        }
        List<Received> received = Collections.synchronizedList(new ArrayList<>());
        try {
            HttpResponse<Stream<String>> response = http.send(request.build(), HttpResponse.BodyHandlers.ofLines());
            assertThat(response.statusCode()).isEqualTo(200);
            assertThat(response.headers().firstValue("Content-Type").orElse("")).startsWith("text/event-stream");
            String id = null;
            String event = null;
            StringBuilder data = new StringBuilder();
            try (Stream<String> lines = response.body()) {
                for (String line : (Iterable<String>) lines::iterator) {
                    if (line.startsWith(":")) {
                        received.add(new Received(null, null, null, line.substring(1).trim(), System.nanoTime(),
                                epochNanos()));
                    } else if (line.startsWith("id: ")) {
                        id = line.substring(4);
                    } else if (line.startsWith("event: ")) {
                        event = line.substring(7);
                    } else if (line.startsWith("data: ")) {
                        data.append(line.substring(6));
                    } else if (line.isEmpty() && event != null) {
                        received.add(new Received(id, event, data.toString(), null, System.nanoTime(), epochNanos()));
                        id = null;
                        event = null;
                        data.setLength(0);
                        if (until.test(received)) {
                            break;
                        }
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        return received;
    }

    private static long epochNanos() {
        java.time.Instant now = java.time.Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    private static String text(List<Received> events, String stream) {
        StringBuilder text = new StringBuilder();
        for (Received r : events) {
            if ("output".equals(r.event()) && r.json().getString("stream").equals(stream)) {
                text.append(r.json().getString("text"));
            }
        }
        return text.toString();
    }

    private static Received end(List<Received> events) {
        return events.stream().filter(r -> "end".equals(r.event())).findFirst().orElseThrow(() ->
                new AssertionError("no end event in " + events));
    }

    @Test
    void aFollowerGetsEachLineAsItIsPrintedThenTheEndAndLatencyIsMeasured() throws IOException {
        // A timestamped line every 200 ms: the follower notes when each arrives (same machine, same clock).
        int lines = 100;
        String id = api.submitCmd("for i in $(seq 1 " + lines + "); do echo \"$i $(date +%s%N)\"; sleep 0.2; done");
        List<Received> events = follow("/tasks/" + id + "/output?follow=true", null, r -> false);
        assertThat(end(events).json().getString("state")).isEqualTo("SUCCEEDED");

        List<Long> latencies = new ArrayList<>();
        int seen = 0;
        for (Received r : events) {
            if (!"output".equals(r.event())) {
                continue;
            }
            for (String line : r.json().getString("text").split("\n")) {
                String[] fields = line.trim().split(" ");
                assertThat(Integer.parseInt(fields[0])).isEqualTo(++seen);
                latencies.add((r.arrivedEpochNanos() - Long.parseLong(fields[1])) / 1000);
            }
        }
        assertThat(seen).isEqualTo(lines);
        assertThat(events.stream().filter(r -> "output".equals(r.event())).count())
                .as("lines arrive as they are printed, not all at the end").isGreaterThan(lines / 2);
        Collections.sort(latencies);
        long p50 = latencies.get(latencies.size() / 2);
        long p99 = latencies.get(Math.min(latencies.size() - 1, (int) Math.ceil(latencies.size() * 0.99) - 1));
        String figure = String.format("live output latency, printed -> read by a follower, %d lines every 200 ms: "
                + "p50 %.1f ms, p99 %.1f ms, max %.1f ms%n", latencies.size(), p50 / 1000.0, p99 / 1000.0,
                latencies.get(latencies.size() - 1) / 1000.0);
        System.out.print(figure);
        Path log = Path.of(SharedCluster.property("taskgrid.log.dir"), "live-output-latency.txt");
        Files.createDirectories(log.getParent());
        Files.writeString(log, figure, java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        assertThat(p50).as("p50 in microseconds").isLessThan(2_000_000);
    }

    @Test
    void whatIsStoredCanBeReadWhileTheTaskRunsFromAnyOffset() {
        String id = api.submitCmd("echo early; echo warn >&2; sleep 4; echo late");
        TaskgridClient.Reply both = Polling.poll(WAIT, Duration.ofMillis(100))
                .until(() -> api.get("/tasks/" + id + "/output?stream=both"),
                        r -> r.body().contains("early\n") && r.body().contains("warn\n"));
        assertThat(both.header("Taskgrid-Task-State")).isIn("ASSIGNED", "RUNNING");
        assertThat(both.header("Taskgrid-Output-Next-Offset")).isEqualTo("6,5");
        TaskgridClient.Reply running = api.get("/tasks/" + id + "/output");
        assertThat(running.body()).isEqualTo("early\n");
        assertThat(running.header("Taskgrid-Output-Next-Offset")).isEqualTo("6");
        assertThat(api.get("/tasks/" + id + "/output?offset=2").body()).isEqualTo("rly\n");
        assertThat(api.get("/tasks/" + id + "/output?stream=stderr&offset=5").body()).isEmpty();

        api.awaitFinal(id, WAIT);
        assertThat(api.get("/tasks/" + id + "/output").body()).isEqualTo("early\nlate\n");
        assertThat(api.get("/tasks/" + id + "/output?offset=6").body()).isEqualTo("late\n");
        assertThat(api.get("/tasks/" + id + "/output?stream=stderr").body()).isEqualTo("warn\n");
    }

    @Test
    void aFollowerThatReconnectsWithLastEventIdGetsOnlyWhatItMissed() {
        String id = api.submitCmd("echo one; sleep 1; echo two; sleep 1; echo three");
        List<Received> first = follow("/tasks/" + id + "/output?follow=true", null,
                r -> r.stream().anyMatch(e -> "output".equals(e.event())));
        Received last = first.get(first.size() - 1);
        assertThat(last.id()).isEqualTo("4");
        List<Received> rest = follow("/tasks/" + id + "/output?follow=true", last.id(), r -> false);
        assertThat(text(rest, "stdout")).isEqualTo("two\nthree\n");
        assertThat(end(rest).json().getString("state")).isEqualTo("SUCCEEDED");
        // A finished task followed from the start: everything, then the end at once.
        List<Received> all = follow("/tasks/" + id + "/output?stream=both&follow=true", null, r -> false);
        assertThat(text(all, "stdout")).isEqualTo("one\ntwo\nthree\n");
        assertThat(all.get(all.size() - 1).event()).isEqualTo("end");
    }

    @Test
    void megabytesOfOutputKeepTheHeadAndTheTailLiveAndAtTheEnd() {
        // About 2.9 MB of numbered lines, with the cap at 1 MiB: the first 512 KiB and the last 512 KiB stay.
        String id = api.submitCmd("seq 1 400000; echo done >&2");
        List<Received> events = follow("/tasks/" + id + "/output?follow=true", null, r -> false);
        assertThat(end(events).json().getBoolean("stdoutTruncated")).isTrue();
        assertThat(events).anyMatch(r -> "dropped".equals(r.event()));
        JsonObject task = api.awaitFinal(id, WAIT);
        String stdout = task.getString("stdout");
        assertThat(stdout).startsWith("1\n2\n3\n").endsWith("399999\n400000\n").contains(" bytes dropped]\n");
        TaskgridClient.Reply read = api.get("/tasks/" + id + "/output");
        assertThat(read.header("Taskgrid-Output-Truncated")).isEqualTo("true");
        assertThat(read.body()).as("the streamed output and the final report agree").isEqualTo(stdout);
        long total = 0;
        for (int i = 1; i <= 400000; i++) {
            total += Integer.toString(i).length() + 1;
        }
        assertThat(stdout).contains("[taskgrid: " + (total - 1024 * 1024) + " bytes dropped]");
        assertThat(text(events, "stdout")).as("a follower from the start sees the head and the tail too")
                .startsWith("1\n2\n3\n").endsWith("399999\n400000\n");
    }

    /**
     * Each 64 KiB of the kept tail replaces an older one in the database. H2 kept what was deleted for 45 s by
     * default, and this task alone grew its file by about 2.5 times what it printed; now the space is reused at once.
     */
    @Test
    void printingAGibibyteFastLeavesTheDatabaseFileAboutAsItWas() throws IOException {
        Path db = Path.of(SharedCluster.property("taskgrid.wlp.dir"), "usr/servers/taskgrid/taskgrid-db/taskgrid.mv.db");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(db), "the shared master keeps its tasks in H2");
        long before = Files.size(db);
        long t0 = System.nanoTime();
        String id = api.submitCmd("yes 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde | head -c 1073741824");
        JsonObject done = api.awaitFinal(id, Duration.ofMinutes(3));
        System.out.printf("LIVE-OUTPUT 1 GiB printed in %.1f s: H2 file %d -> %d MiB%n",
                (System.nanoTime() - t0) / 1e9, before >> 20, Files.size(db) >> 20);
        assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
        assertThat(done.getBoolean("stdoutTruncated")).isTrue();
        assertThat(Files.size(db) - before).as("growth of the H2 file in bytes").isLessThan(32L << 20);
    }

    @Test
    void aQuietTaskIsFollowedWithHeartbeatsUntilItEnds() {
        String id = api.submitCmd("sleep 17; echo finally");
        long start = System.nanoTime();
        List<Received> events = follow("/tasks/" + id + "/output?follow=true", null, r -> false);
        assertThat(events).anyMatch(r -> "heartbeat".equals(r.comment()));
        assertThat(text(events, "stdout")).isEqualTo("finally\n");
        assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start)).isGreaterThanOrEqualTo(16);
    }

    @Test
    void aFollowerOfAQueuedTaskHearsAtOnceThatItWasCancelled() throws Exception {
        // A label no agent carries: the task stays queued, with no worker to report about it.
        String id = api.submit("{\"cmd\":\"echo never\",\"requires\":{\"zone\":\"nowhere-" + System.nanoTime()
                + "\"}}");
        CompletableFuture<List<Received>> followed = CompletableFuture.supplyAsync(() ->
                follow("/tasks/" + id + "/output?follow=true", null, r -> false));
        TaskgridClient.sleep(500);
        long cancelled = System.nanoTime();
        assertThat(api.send(HttpRequest.newBuilder(URI.create(api.base() + "/tasks/" + id))
                .header("Authorization", "Bearer " + SharedCluster.cluster().apiToken()).DELETE().build()).status())
                .isEqualTo(200);
        Received end = end(followed.get(10, TimeUnit.SECONDS));
        assertThat(end.json().getString("state")).isEqualTo("CANCELLED");
        assertThat(TimeUnit.NANOSECONDS.toMillis(end.arrivedNanos() - cancelled)).as("ms from cancel to end event")
                .isLessThan(HEARTBEAT_SECONDS * 1000 / 2);
    }

    @Test
    void badParametersAreRefusedWithAProblem() {
        String id = api.submitCmd("echo x");
        api.awaitFinal(id, WAIT);
        for (String query : List.of("stream=stdin", "offset=-1", "offset=abc", "offset=1,2", "stream=both&offset=3",
                "follow=maybe", "offset=99999999999999999999")) {
            TaskgridClient.Reply reply = api.get("/tasks/" + id + "/output?" + query);
            assertThat(reply.status()).as(query).isEqualTo(400);
            assertThat(reply.contentType()).as(query).startsWith("application/problem+json");
        }
        HttpRequest badResume = HttpRequest.newBuilder(URI.create(api.base() + "/tasks/" + id + "/output?follow=true"))
                .header("Last-Event-ID", "not-an-offset").GET().build();
        assertThat(api.send(badResume).status()).isEqualTo(400);
        assertThat(api.get("/tasks/00000000-0000-7000-8000-000000000000/output?follow=true").status()).isEqualTo(404);
        assertThat(api.withToken(null).get("/tasks/" + id + "/output?follow=true").status()).isEqualTo(401);
    }

    private static String numberedLines(int count) {
        StringBuilder lines = new StringBuilder();
        for (int i = 1; i <= count; i++) {
            lines.append("line-").append(i).append('\n');
        }
        return lines.toString();
    }

    @Test
    void outputPrintedWhileTheMasterIsDownIsSentOnceItIsBackAndNothingIsLost() throws IOException {
        // Runs until the test says so (a file appears), so that a slow restart cannot outlast it.
        Path stop = Files.createTempDirectory("live-output-it").resolve("stop");
        String id = api.submitCmd("i=0; while [ ! -e " + stop + " ] && [ $i -lt 600 ]; do i=$((i+1)); echo line-$i; "
                + "sleep 0.5; done");
        String before = Polling.poll(WAIT, Duration.ofMillis(100)).until(() -> api.get("/tasks/" + id + "/output")
                .body(), body -> body.contains("line-3\n"));
        int linesBefore = before.split("\n").length;
        SharedCluster.cluster().killMaster();
        SharedCluster.cluster().startMaster();
        // What the command printed while the master was away arrives by the live stream, while it still runs.
        TaskgridClient.Reply after = Polling.poll(Duration.ofMinutes(2), Duration.ofMillis(200)).until(
                () -> api.get("/tasks/" + id + "/output"), r -> r.body().split("\n").length >= linesBefore + 10);
        assertThat(after.header("Taskgrid-Task-State")).isEqualTo("RUNNING");
        int linesAfter = after.body().split("\n").length;
        assertThat(after.body()).isEqualTo(numberedLines(linesAfter));
        Files.createFile(stop);
        JsonObject done = api.awaitFinal(id, Duration.ofSeconds(90));
        assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
        int printed = done.getString("stdout").split("\n").length;
        assertThat(printed).isGreaterThanOrEqualTo(linesAfter);
        assertThat(done.getString("stdout")).isEqualTo(numberedLines(printed));
        assertThat(api.get("/tasks/" + id + "/output").body()).isEqualTo(numberedLines(printed));
    }
}
