package io.taskgrid.it;

import jakarta.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** How tasks are spread over the pool of real agents, and that nothing waits behind a busy one. */
@ExtendWith(SharedCluster.class)
class DispatchIT {

    private final TaskgridClient api = SharedCluster.client();
    private static final Duration WAIT = Duration.ofSeconds(60);

    @Test
    void everyWorkerIsUsedInTurn() {
        int workers = SharedCluster.cluster().config().workers();
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < workers; i++) {
            ids.add(api.submitCmd("sleep 1; echo " + i));
        }
        Set<String> used = new HashSet<>();
        for (String id : ids) {
            JsonObject done = api.awaitFinal(id, WAIT);
            assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
            used.add(done.getString("workerId"));
        }
        assertThat(used).containsExactlyInAnyOrderElementsOf(SharedCluster.cluster().configuredWorkerIds());
    }

    @Test
    void aBusyWorkerDelaysNoTaskThatAnotherWorkerCanRun() {
        String slow = api.submitCmd("sleep 8; echo slow");
        JsonObject running = api.awaitState(slow, Set.of("RUNNING"), WAIT);
        String busyWorker = running.getString("workerId");

        Instant start = Instant.now();
        List<String> quick = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            quick.add(api.submitCmd("echo quick " + i));
        }
        for (String id : quick) {
            JsonObject done = api.awaitFinal(id, WAIT);
            assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
            assertThat(done.getString("workerId")).isNotEqualTo(busyWorker);
        }
        Duration allQuickDone = Duration.between(start, Instant.now());
        assertThat(api.state(slow)).as("the slow task is still running on " + busyWorker).isEqualTo("RUNNING");
        assertThat(allQuickDone).isLessThan(Duration.ofSeconds(8));
        System.out.printf("20 quick tasks ran beside a busy worker in %d ms%n", allQuickDone.toMillis());
        assertThat(api.awaitFinal(slow, WAIT).getString("stdout")).isEqualTo("slow\n");
    }

    @Test
    void aFreedSlotTakesTheNextQueuedTaskAtOnce() {
        int workers = SharedCluster.cluster().config().workers();
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 3 * workers; i++) {
            ids.add(api.submitCmd("sleep 1"));
        }
        List<JsonObject> done = ids.stream().map(id -> api.awaitFinal(id, WAIT)).toList();
        Instant firstStart = done.stream().map(t -> Instant.parse(t.getString("startedAt"))).min(Instant::compareTo).orElseThrow();
        Instant lastEnd = done.stream().map(t -> Instant.parse(t.getString("finishedAt"))).max(Instant::compareTo).orElseThrow();
        // Three rounds of one-second tasks: a polling dispatcher would add its interval to every round.
        Duration total = Duration.between(firstStart, lastEnd);
        System.out.printf("%d x sleep 1 on %d one-slot workers took %d ms%n", ids.size(), workers, total.toMillis());
        assertThat(total).isLessThan(Duration.ofMillis(3000 + 1500));
    }

    @Test
    void aTaskSubmittedToAnIdleWorkerStartsWithinMilliseconds() {
        List<Long> latencies = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            JsonObject done = api.awaitFinal(api.submitCmd("true"), WAIT);
            latencies.add(Duration.between(Instant.parse(done.getString("submittedAt")),
                    Instant.parse(done.getString("startedAt"))).toMillis());
        }
        List<Long> sorted = latencies.stream().sorted().toList();
        long median = sorted.get(sorted.size() / 2);
        System.out.printf("submit-to-start latency ms: median %d, max %d, all %s%n", median,
                sorted.get(sorted.size() - 1), latencies);
        assertThat(median).isLessThan(250);
    }
}
