package io.taskgrid.it;

import io.taskgrid.it.cluster.LocalCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Listing tasks never loads their output: many concurrent GET /tasks?limit=1000 over tasks that each hold 2 MiB of
 * output (1 MiB per stream, the default cap) leave the master answering, with a small heap. Before, each such call
 * read every listed task's output into the heap, and a few at once ran the master (1 GiB heap) out of memory.
 */
@ExtendWith(SharedCluster.class)
class ListUnderLoadIT {

    private static final int TASKS = 40;
    private static final int CLIENTS = 16;
    private static final int CALLS_EACH = 8;
    private static final Pattern HEAP_USED = Pattern.compile("used (\\d+)K");

    private final TaskgridClient api = SharedCluster.client();
    private final LocalCluster cluster = SharedCluster.cluster();

    @Test
    void concurrentListingsOverLargeOutputsKeepTheMasterHealthy() throws Exception {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < TASKS; i++) {
            ids.add(api.submitCmd("head -c 1048576 /dev/zero | tr '\\0' a; head -c 1048576 /dev/zero | tr '\\0' b >&2"));
        }
        for (String id : ids) {
            assertThat(api.awaitFinal(id, Duration.ofMinutes(2)).getBoolean("stdoutTruncated")).isFalse();
        }
        long pid = cluster.masterPid();
        AtomicLong maxUsedKb = new AtomicLong();
        // Samples the heap while the listings run; a sample, then 200 ms after it ends, the next.
        ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor();
        sampler.scheduleWithFixedDelay(
                () -> heapUsedKb(pid, false).ifPresent(kb -> maxUsedKb.accumulateAndGet(kb, Math::max)),
                0, 200, TimeUnit.MILLISECONDS);
        ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
        List<Future<List<Integer>>> replies = new ArrayList<>();
        long started = System.nanoTime();
        try {
            for (int c = 0; c < CLIENTS; c++) {
                replies.add(clients.submit(() -> {
                    List<Integer> sizes = new ArrayList<>();
                    for (int i = 0; i < CALLS_EACH; i++) {
                        TaskgridClient.Reply reply = api.get("/tasks?limit=1000");
                        assertThat(reply.status()).as(reply.body().substring(0, Math.min(300, reply.body().length())))
                                .isEqualTo(200);
                        sizes.add(reply.body().length());
                    }
                    return sizes;
                }));
            }
            for (Future<List<Integer>> reply : replies) {
                assertThat(reply.get(5, TimeUnit.MINUTES)).allSatisfy(size ->
                        assertThat(size).as("a page of summaries, not of outputs").isLessThan(4 * 1024 * 1024));
            }
        } finally {
            clients.shutdownNow();
            // No new samples; the one under way (jcmd answers within 30 s) still counts.
            sampler.shutdown();
            sampler.awaitTermination(1, TimeUnit.MINUTES);
        }
        long tookMs = Duration.ofNanos(System.nanoTime() - started).toMillis();
        assertThat(cluster.masterAlive()).isTrue();
        assertThat(api.get("/health/ready").status()).isEqualTo(200);
        assertThat(api.awaitFinal(api.submitCmd("echo still fine"), Duration.ofSeconds(30)).getString("state"))
                .isEqualTo("SUCCEEDED");
        long liveKb = heapUsedKb(pid, true).orElse(-1L);
        System.out.printf("LIST LOAD %d x %d GET /tasks?limit=1000 over %d tasks of 2 MiB output: %d ms, master heap "
                + "used at most %d MiB while loading, %d MiB live after%n", CLIENTS, CALLS_EACH, TASKS, tookMs,
                maxUsedKb.get() / 1024, liveKb / 1024);
        assertThat(liveKb).as("jcmd (of the JDK the tests run on) told the master's heap").isNotNegative();
        assertThat(liveKb / 1024).as("live heap after a full GC, MiB").isLessThan(256);
        for (Path log : List.of(Path.of(SharedCluster.property("taskgrid.log.dir"), "master.log"),
                Path.of(SharedCluster.property("taskgrid.wlp.dir"), "usr/servers/taskgrid/logs/messages.log"))) {
            if (Files.exists(log)) {
                assertThat(Files.readString(log, StandardCharsets.ISO_8859_1)).as(log.toString())
                        .doesNotContain("OutOfMemoryError");
            }
        }
    }

    /** The heap in use, from jcmd (after a full collection when {@code afterGc}); empty where jcmd cannot tell. */
    private static Optional<Long> heapUsedKb(long pid, boolean afterGc) {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        if (pid < 0 || !Files.isExecutable(jcmd)) {
            return Optional.empty();
        }
        try {
            if (afterGc) {
                run(jcmd.toString(), Long.toString(pid), "GC.run");
            }
            Matcher m = HEAP_USED.matcher(run(jcmd.toString(), Long.toString(pid), "GC.heap_info"));
            return m.find() ? Optional.of(Long.parseLong(m.group(1))) : Optional.empty();
        } catch (Exception e) {
            return Optional.empty();
        }
    }

    private static String run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        process.waitFor(30, TimeUnit.SECONDS);
        return out;
    }
}
