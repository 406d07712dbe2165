package io.taskgrid.agent;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

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

    /** It runs as long as the agent, as root where the agent is: its environment must not hold the join token. */
    @Test
    void theWatchdogDoesNotGetTheAgentsCredentials() throws Exception {
        // Set for this test JVM by the build (surefire environmentVariables), as an operator would for the agent.
        String secret = System.getenv("TASKGRID_JOIN_TOKEN");
        assertThat(secret).as("set up by the build").isNotBlank();
        Set<ProcessHandle> before = ProcessHandle.current().children().collect(Collectors.toSet());
        Watchdog watchdog = Watchdog.start();
        assertThat(watchdog).isNotNull();
        try {
            List<ProcessHandle> started = ProcessHandle.current().children().filter(p -> !before.contains(p)).toList();
            assertThat(started).hasSize(1);
            // An exec keeps the environment it was given: whichever of setsid, sh and awk runs now shows it. In the
            // middle of an exec the kernel shows none at all, so an empty read is read again.
            Path environFile = Path.of("/proc", Long.toString(started.get(0).pid()), "environ");
            String environ = Files.readString(environFile, StandardCharsets.UTF_8);
            for (int tries = 0; environ.isEmpty() && tries < 100; tries++) {
                Thread.sleep(20);
                environ = Files.readString(environFile, StandardCharsets.UTF_8);
            }
            // Names only, and a yes or no for the secret: a failure must not print the machine's environment.
            List<String> names = Arrays.stream(environ.split("\0")).map(v -> v.substring(0, v.indexOf('=') + 1))
                    .toList();
            assertThat(names).contains("PATH=").noneMatch(name -> name.startsWith(TaskEnvironment.AGENT_PREFIX));
            assertThat(environ.contains(secret)).as("the token is in the watchdog's environment").isFalse();
        } finally {
            watchdog.close();
        }
    }

    private static void awaitGroupGone(long group) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (Procfs.anyRunningInGroup(group)) {
            assertThat(System.nanoTime()).as("group " + group + " still has processes").isLessThan(deadline);
            Thread.sleep(50);
        }
    }
}
