package io.taskgrid.agent;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

class BackoffTest {

    @Test
    void delaysDoubleUpToTheCapWithAtMostTwentyPercentJitter() {
        Backoff backoff = new Backoff(Duration.ofSeconds(1), Duration.ofSeconds(5));
        long[] steps = {1000, 2000, 4000, 5000, 5000};
        for (long step : steps) {
            long delay = backoff.nextDelay().toMillis();
            assertThat(delay).isBetween(step - step / 5, step);
        }
    }

    @Test
    void resetStartsOverFromTheFirstDelay() {
        Backoff backoff = new Backoff(Duration.ofSeconds(1), Duration.ofSeconds(60));
        backoff.nextDelay();
        backoff.nextDelay();
        backoff.reset();
        assertThat(backoff.nextDelay().toMillis()).isBetween(800L, 1000L);
    }

    @Test
    void jitterSpreadsAgentsApart() {
        java.util.Set<Long> seen = new java.util.HashSet<>();
        for (int i = 0; i < 50; i++) {
            seen.add(new Backoff(Duration.ofSeconds(5), Duration.ofSeconds(5)).nextDelay().toMillis());
        }
        assertThat(seen.size()).isGreaterThan(10);
    }
}
