package io.taskgrid.agent;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Capped exponential backoff with jitter. The jitter matters when a master restarts under a large pool: without it
 * every agent would knock at the same instant, again and again.
 */
final class Backoff {

    private final Duration initial;
    private final Duration max;
    private Duration next;

    Backoff(Duration initial, Duration max) {
        this.initial = initial;
        this.max = max;
        this.next = initial;
    }

    /** The wait before the next attempt: the current step, jittered down by up to 20 %; the step then doubles. */
    synchronized Duration nextDelay() {
        Duration step = next;
        Duration doubled = next.multipliedBy(2);
        next = doubled.compareTo(max) > 0 ? max : doubled;
        long millis = step.toMillis();
        long jitter = millis <= 1 ? 0 : ThreadLocalRandom.current().nextLong(millis / 5 + 1);
        return Duration.ofMillis(millis - jitter);
    }

    synchronized void reset() {
        next = initial;
    }
}
