package io.taskgrid.agent;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The agent's systemd unit: systemd itself finds nothing wrong in it ({@code systemd-analyze verify}, which CI has),
 * and it stops the agent the way the agent needs: SIGTERM to the agent alone, and systemd's own kill only after the
 * agent's grace for running tasks and its kill grace have both passed.
 */
class SystemdUnitTest {

    private static final Path UNIT = Path.of("src/main/systemd/taskgrid-agent.service");

    @TempDir
    Path dir;

    @Test
    void systemdFindsNothingWrongInIt() throws Exception {
        boolean present = Files.isExecutable(Path.of("/usr/bin/systemd-analyze"));
        assumeTrue(present || System.getenv("CI") != null, "systemd-analyze is not installed here");
        assertThat(present).as("CI has systemd-analyze").isTrue();
        Path copy = Files.copy(UNIT, dir.resolve("taskgrid-agent.service"));
        Process verify = new ProcessBuilder("systemd-analyze", "verify", copy.toString()).redirectErrorStream(true)
                .start();
        String said = new String(verify.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(verify.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(verify.exitValue()).as(said).isZero();
        // verify exits 0 on a value it cannot parse, and says so: nothing may be said.
        assertThat(said.lines().filter(line -> line.contains("taskgrid-agent.service"))).as(said).isEmpty();
    }

    @Test
    void itStopsTheAgentAsTheAgentNeedsAndKeepsTheTokenOutOfSight() throws Exception {
        String unit = Files.readString(UNIT).replace("\\\n", " ");
        assertThat(unit).contains("\nKillMode=mixed\n", "\nRestart=on-failure\n",
                "\nLoadCredential=join-token:/etc/taskgrid/join-token\n",
                "--token-file ${CREDENTIALS_DIRECTORY}/join-token").doesNotContain("--token ");
        // Tasks never run as the agent's user: they could read the token and the agent's state.
        assertThat(unit).contains("--run-as taskgrid-task", "\nUser=root\n");
        Duration stop = duration(unit, "\nTimeoutStopSec=(\\d+)s");
        Duration grace = duration(unit, "--shutdown-grace (\\d+)s");
        Duration kill = duration(unit, "--kill-grace (\\d+)s");
        assertThat(stop).as("systemd waits longer than the agent's grace and kill grace together")
                .isGreaterThan(grace.plus(kill).plusSeconds(5));
        assertThat(unit).contains("RestartPreventExitStatus=2 3 4 5");
    }

    private static Duration duration(String unit, String pattern) {
        Matcher matcher = Pattern.compile(pattern).matcher(unit);
        assertThat(matcher.find()).as(pattern).isTrue();
        return Duration.ofSeconds(Long.parseLong(matcher.group(1)));
    }
}
