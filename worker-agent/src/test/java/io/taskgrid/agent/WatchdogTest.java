package io.taskgrid.agent;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The watchdog cannot tell a closed pipe from a dead agent, which is the point: closing its pipe here stands in for
 * the agent dying.
 */
class WatchdogTest {

    private static Process sleeperInItsOwnGroup(String seconds) throws Exception {
        return new ProcessBuilder(ProcessTree.inNewSession(List.of("/bin/sh", "-c", "sleep " + seconds + " & wait"))).start();
    }

    @Test
    void whenTheAgentGoesAwayEveryListedGroupIsStopped() throws Exception {
        Process command = sleeperInItsOwnGroup("307");
        Watchdog watchdog = Watchdog.start();
        assertThat(watchdog).isNotNull();
        watchdog.started(command.pid());
        watchdog.close();
        assertThat(command.waitFor(10, TimeUnit.SECONDS)).as("stopped by the watchdog").isTrue();
        awaitGroupGone(command.pid());
    }

    @Test
    void aGroupThatEndedNormallyIsLeftAlone() throws Exception {
        Process unrelated = sleeperInItsOwnGroup("308");
        Watchdog watchdog = Watchdog.start();
        watchdog.started(unrelated.pid());
        watchdog.ended(unrelated.pid());
        watchdog.close();
        Thread.sleep(3000);
        assertThat(unrelated.isAlive()).isTrue();
        unrelated.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
        unrelated.destroyForcibly();
    }

    private static void awaitGroupGone(long group) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (Procfs.anyRunningInGroup(group)) {
            assertThat(System.nanoTime()).as("group " + group + " still has processes").isLessThan(deadline);
            Thread.sleep(50);
        }
    }
}
