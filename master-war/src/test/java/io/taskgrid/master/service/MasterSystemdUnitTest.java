package io.taskgrid.master.service;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The master's systemd unit, shipped in the release: systemd finds nothing wrong in it ({@code systemd-analyze
 * verify}, which CI has), and it keeps what the one-file master needs kept: its state in a directory systemd makes for
 * it alone (Liberty deletes its own unpacked copy on every stop, so the state must not live there), files it writes
 * readable by the master alone, and a stop that lets Liberty shut down cleanly.
 */
class MasterSystemdUnitTest {

    private static final Path UNIT = Path.of("src/main/systemd/taskgrid-master.service");

    @TempDir
    Path dir;

    @Test
    void systemdFindsNothingWrongInIt() throws Exception {
        boolean present = Files.isExecutable(Path.of("/usr/bin/systemd-analyze"));
        assumeTrue(present || System.getenv("CI") != null, "systemd-analyze is not installed here");
        assertThat(present).as("CI has systemd-analyze").isTrue();
        Path copy = Files.copy(UNIT, dir.resolve("taskgrid-master.service"));
        Process verify = new ProcessBuilder("systemd-analyze", "verify", copy.toString()).redirectErrorStream(true)
                .start();
        String said = new String(verify.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(verify.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(verify.exitValue()).as(said).isZero();
        // verify exits 0 on a value it cannot parse, and says so: nothing may be said.
        assertThat(said.lines().filter(line -> line.contains("taskgrid-master.service"))).as(said).isEmpty();
    }

    @Test
    void itKeepsTheMastersStateOutsideLibertysCopyAndReadableByTheMasterAlone() throws Exception {
        String unit = Files.readString(UNIT).replace("\\\n", " ");
        assertThat(unit).contains("\nUser=taskgrid\n", "\nStateDirectory=taskgrid\n", "\nStateDirectoryMode=0700\n",
                "\nEnvironment=TASKGRID_HOME=/var/lib/taskgrid\n", "\nUMask=0077\n", "\nRestart=on-failure\n",
                "\nKillSignal=SIGTERM\n", "-jar /opt/taskgrid/taskgrid-master.jar",
                "\nEnvironment=TASKGRID_CREDENTIALS_PRINT=false\n");
        assertThat(unit).as("Liberty unpacks the jar under the state directory, not in a home it may not have")
                .contains("\nEnvironment=WLP_JAR_EXTRACT_ROOT=/var/lib/taskgrid/");
    }
}
