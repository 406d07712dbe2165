package io.taskgrid.agent;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;
import static org.awaitility.Awaitility.await;

class LeftoverSweeperTest {

    /**
     * A session number is handed out again once its session is empty; a process that leads a session with the number
     * now is someone else's, and the sweeper leaves it (and its session) alone.
     */
    @Test
    void aSessionWhoseNumberALiveLeaderHoldsIsNotTouched() throws Exception {
        assumeThat(Procfs.available()).isTrue();
        Process other = new ProcessBuilder("/usr/bin/setsid", "/bin/sh", "-c", "sleep 331 & exec sleep 332").start();
        try {
            long id = other.pid();
            await().atMost(Duration.ofSeconds(5)).until(() -> Procfs.leadsSession(id));
            LeftoverSweeper sweeper = LeftoverSweeper.shared();
            boolean[] emptied = {false};
            sweeper.watch(id, Duration.ofMillis(100), () -> emptied[0] = true);
            await().atMost(Duration.ofSeconds(5)).until(() -> !sweeper.watching(id));
            Thread.sleep(LeftoverSweeper.INTERVAL.toMillis() * 2);
            assertThat(other.isAlive()).as("the other session's leader").isTrue();
            assertThat(Procfs.membersOf(id)).as("the other session's processes").hasSize(2);
        } finally {
            Procfs.membersOf(other.pid()).forEach(ProcessHandle::destroyForcibly);
            other.destroyForcibly();
            other.waitFor(5, TimeUnit.SECONDS);
        }
    }

    /** Every session handed over is looked at, and let go once empty; the looks are per interval, not per session. */
    @Test
    void manySessionsAreSweptTogether() throws Exception {
        LeftoverSweeper sweeper = LeftoverSweeper.shared();
        assumeThat(sweeper).isNotNull();
        long sweepsBefore = sweeper.sweeps();
        int[] emptied = {0};
        long start = System.nanoTime();
        for (long id = 4_000_000_001L; id < 4_000_000_101L; id++) {
            sweeper.watch(id, Duration.ofMillis(100), () -> {
                synchronized (emptied) {
                    emptied[0]++;
                }
            });
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> {
            synchronized (emptied) {
                return emptied[0] == 100;
            }
        });
        long sweeps = sweeper.sweeps() - sweepsBefore;
        long intervals = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) / LeftoverSweeper.INTERVAL.toMillis();
        assertThat(sweeps).as("looks at /proc for 100 sessions").isLessThanOrEqualTo(intervals + 1);
    }
}
