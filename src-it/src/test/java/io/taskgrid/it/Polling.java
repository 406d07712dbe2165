package io.taskgrid.it;

import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;

import java.time.Duration;

/** Awaitility as these tests wait: for something on a real cluster, looked at over and over up to a limit. */
public final class Polling {

    private Polling() {
    }

    /**
     * Looks at once, then every {@code interval}, for at most {@code atMost}. Two of Awaitility's defaults are turned
     * off on purpose. It would wait one interval before the first look, which adds up where a test times a run of many
     * short waits (DispatchIT) or retries a thousand submissions (ChaosIT). And it would install a JVM-wide
     * uncaught-exception handler for the length of each wait and fail the wait on whatever any other thread throws:
     * gRPC, Testcontainers and the tests' own background threads are none of a wait's business, and two waits at
     * once, in two threads, would swap that handler under each other.
     */
    public static ConditionFactory poll(Duration atMost, Duration interval) {
        return Awaitility.await()
                .atMost(atMost)
                .pollDelay(Duration.ZERO)
                .pollInterval(interval)
                .dontCatchUncaughtExceptions();
    }
}
