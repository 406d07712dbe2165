package io.taskgrid.agent;

import io.taskgrid.proto.v1.Outcome;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A fork bomb that has used up its user's processes is still stopped: by its timeout, by a cancel, and when its shell
 * exits at once and leaves the bomb behind. Stopping must fork nothing, since nothing can be forked: a bomb that takes
 * every process slot that frees at once ({@code perl -e 'fork while 1'}) leaves none for a {@code kill} to run in,
 * whereas the classic shell bomb, whose processes die when they cannot fork, leaves one now and then.
 *
 * <p>The bomb runs as an unprivileged user (root ignores RLIMIT_NPROC) under a process limit of
 * {@value #PROCESS_LIMIT}, which also caps what it takes of this machine, in a PID namespace whose first process is a
 * shell that reaps orphans as an init does (this machine's init does not, and zombies count against the limit: a bomb
 * whose processes all became zombies would stop by itself). When the namespace ends, the kernel kills and reaps
 * whatever is left in it, and the test kills every process of its user besides, so nothing outlives a test.
 */
class ForkBombTest {

    private static final int PROCESS_LIMIT = 150;

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{1} bomb, {0}")
    @CsvSource({"timeout, perl, TIMED_OUT", "cancel, perl, CANCELLED", "exits, perl, EXITED",
            "timeout, shell, TIMED_OUT"})
    void aForkBombIsStoppedWithNothingLeftOfIt(String mode, String kind, Outcome expected) throws Exception {
        UnprivilegedJvm.User user = UnprivilegedJvm.user();
        assumeTrue(!kind.equals("perl") || Files.isExecutable(Path.of("/usr/bin/perl")), "perl is installed");
        assumeTrue(RunAs.pidNamespacesWork(), "needs PID namespaces (unshare --pid), so that the bomb's orphans are "
                + "reaped and nothing of it can outlive the test");
        List<String> command = new ArrayList<>(List.of("/usr/bin/prlimit", "--nproc=" + PROCESS_LIMIT + ":"
                + PROCESS_LIMIT, "--"));
        command.addAll(RunAs.OWN_PID_NAMESPACE);
        command.add("--");
        command.addAll(UnprivilegedJvm.as(user));
        command.addAll(List.of("/bin/sh", "-c", "\"$@\" & c=$!; wait $c", "reaper"));
        command.addAll(UnprivilegedJvm.java(ForkBombChild.class, mode, kind));
        Path out = dir.resolve("out");
        Path err = dir.resolve("err");
        Process child = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        try {
            assertThat(child.waitFor(120, TimeUnit.SECONDS)).as("the child ends; it wrote: %s", read(err)).isTrue();
            String result = read(out).lines().filter(line -> line.startsWith("RESULT ")).findFirst()
                    .orElseThrow(() -> new AssertionError("no result; the child wrote:\n" + read(out) + read(err)));
            System.out.println(kind + " bomb, " + mode + ": " + result);
            String[] fields = result.split(" ", 5);
            assertThat(fields[1]).as(result).isEqualTo(expected.name());
            assertThat(Integer.parseInt(fields[3])).as("processes of the bomb still running after its task ended: "
                    + result).isZero();
            assertThat(Long.parseLong(fields[2])).as("how long the task took, in ms: " + result)
                    .isLessThan(15_000);
        } finally {
            // unshare --kill-child: the namespace, and everything in it, goes with it.
            child.destroyForcibly();
            child.waitFor(30, TimeUnit.SECONDS);
            UnprivilegedJvm.killAll(user);
        }
        assertThat(UnprivilegedJvm.processesOf(user)).as("processes of the test user after the test").isEmpty();
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (Exception e) {
            return "(unreadable: " + e + ")";
        }
    }
}
