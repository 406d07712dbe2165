package io.taskgrid.agent;

import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.Outcome;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** Runs real /bin/sh processes. */
class CommandRunTest {

    @TempDir
    Path dir;

    private static Assignment.Builder task(String cmd) {
        return Assignment.newBuilder().setTaskId("t1").setAttemptId("a1").setCmd(cmd).setOutputLimitBytes(1 << 20);
    }

    private static CommandResult run(Assignment.Builder assignment) {
        return new CommandRun(assignment.build(), Duration.ofSeconds(1)).run(() -> { });
    }

    private static String out(CommandResult result) {
        return new String(result.stdout(), StandardCharsets.UTF_8);
    }

    private static String err(CommandResult result) {
        return new String(result.stderr(), StandardCharsets.UTF_8);
    }

    @Test
    void runsTheCommandWithAShellAndCapturesItsOutput() {
        CommandResult result = run(task("echo hello world"));
        assertThat(result.outcome()).isEqualTo(Outcome.EXITED);
        assertThat(result.exitCode()).isZero();
        assertThat(out(result)).isEqualTo("hello world\n");
        assertThat(err(result)).isEmpty();
    }

    @Test
    void quotingIsTheShellsNotSplitOnSpaces() {
        CommandResult result = run(task("printf '[%s]' \"a  b\" 'c\"d' \"it's\" $(echo e f)"));
        assertThat(out(result)).isEqualTo("[a  b][c\"d][it's][e][f]");
    }

    @Test
    void pipesRedirectionsAndSequencesWork() {
        CommandResult result = run(task("printf 'b\\na\\nc\\n' | sort | tr a-z A-Z; echo to-err 1>&2 && echo done"));
        assertThat(out(result)).isEqualTo("A\nB\nC\ndone\n");
        assertThat(err(result)).isEqualTo("to-err\n");
    }

    @Test
    void aNonZeroExitIsReportedWithItsStderr() {
        CommandResult result = run(task("echo partial; echo 'no such thing' >&2; exit 42"));
        assertThat(result.outcome()).isEqualTo(Outcome.EXITED);
        assertThat(result.exitCode()).isEqualTo(42);
        assertThat(out(result)).isEqualTo("partial\n");
        assertThat(err(result)).isEqualTo("no such thing\n");
    }

    @Test
    void aCommandKilledByASignalExitsWith128PlusTheSignal() {
        assertThat(run(task("kill -9 $$")).exitCode()).isEqualTo(137);
    }

    @Test
    void anUnknownCommandIsTheShellsExit127() {
        CommandResult result = run(task("no-such-command-xyz"));
        assertThat(result.exitCode()).isEqualTo(127);
        assertThat(err(result)).contains("not found");
    }

    @Test
    void theTaskEnvironmentIsAddedToTheAgents() {
        CommandResult result = run(task("echo \"$GREETING|$EMPTY|${PATH:+has-path}\"")
                .putAllEnv(Map.of("GREETING", "hi there", "EMPTY", "")));
        assertThat(out(result)).isEqualTo("hi there||has-path\n");
    }

    @Test
    void theCommandRunsInTheGivenDirectory() throws IOException {
        Path real = dir.toRealPath();
        assertThat(out(run(task("pwd").setCwd(real.toString())))).isEqualTo(real + "\n");
    }

    @Test
    void aMissingWorkingDirectoryFailsWithoutStartingAnything() {
        Path missing = dir.resolve("nope");
        CommandResult result = run(task("touch " + dir.resolve("ran")).setCwd(missing.toString()));
        assertThat(result.outcome()).isEqualTo(Outcome.FAILED_TO_START);
        assertThat(result.reason()).contains(missing.toString()).contains("does not exist");
        assertThat(dir.resolve("ran")).doesNotExist();
    }

    @Test
    void stdinIsEmptySoACommandThatReadsItDoesNotHang() {
        CommandResult result = run(task("cat; echo after"));
        assertThat(out(result)).isEqualTo("after\n");
    }

    @Test
    void onStartedIsCalledOnceTheProcessExists() {
        boolean[] called = {false};
        new CommandRun(task("true").build(), Duration.ofSeconds(1)).run(() -> called[0] = true);
        assertThat(called[0]).isTrue();
    }

    @Test
    void outputPastTheLimitIsDroppedAndFlagged() {
        CommandResult result = run(task("printf 0123456789abcdef; printf xyz >&2").setOutputLimitBytes(10));
        assertThat(out(result)).isEqualTo("0123456789");
        assertThat(result.stdoutTruncated()).isTrue();
        assertThat(err(result)).isEqualTo("xyz");
        assertThat(result.stderrTruncated()).isFalse();
    }

    @Test
    void aFloodOfOutputIsDrainedSoTheCommandFinishes() {
        CommandResult result = run(task("head -c 20000000 /dev/zero; echo done >&2").setOutputLimitBytes(1 << 20));
        assertThat(result.exitCode()).isZero();
        assertThat(result.stdout()).hasSize(1 << 20);
        assertThat(result.stdoutTruncated()).isTrue();
        assertThat(err(result)).isEqualTo("done\n");
    }

    @Test
    void aTimeoutKillsTheWholeProcessTree() throws Exception {
        Path pids = dir.resolve("pids");
        long start = System.nanoTime();
        CommandResult result = run(task("sleep 300 & echo $! > " + pids + "; sh -c 'sleep 301 & wait' & sleep 302")
                .setTimeoutSeconds(1));
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertThat(result.outcome()).isEqualTo(Outcome.TIMED_OUT);
        assertThat(result.reason()).contains("timed out after 1 s");
        assertThat(millis).isLessThan(10_000);
        long background = Long.parseLong(Files.readString(pids).trim());
        assertThat(Procfs.isRunning(background)).as("background process still running").isFalse();
        assertNoProcessMatches("sleep 30[012]");
    }

    @Test
    void aCommandThatIgnoresTermIsKilledAfterTheGrace() throws Exception {
        long start = System.nanoTime();
        CommandResult result = run(task("trap '' TERM; sleep 303 & wait; sleep 303").setTimeoutSeconds(1));
        assertThat(result.outcome()).isEqualTo(Outcome.TIMED_OUT);
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isLessThan(10_000);
        assertNoProcessMatches("sleep 303");
    }

    @Test
    void whatACommandPrintsWhileItIsBeingStoppedIsKept() {
        CommandResult result = run(task("trap 'echo cleaning up; exit 1' TERM; echo working; sleep 306 & wait")
                .setTimeoutSeconds(1));
        assertThat(result.outcome()).isEqualTo(Outcome.TIMED_OUT);
        assertThat(out(result)).isEqualTo("working\ncleaning up\n");
    }

    @Test
    void backgroundProcessesDoNotOutliveTheirTask() throws Exception {
        Path pids = dir.resolve("pids");
        long start = System.nanoTime();
        CommandResult result = run(task("sleep 304 & echo $! > " + pids + "; echo started"));
        assertThat(result.exitCode()).isZero();
        assertThat(out(result)).isEqualTo("started\n");
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isLessThan(10_000);
        long background = Long.parseLong(Files.readString(pids).trim());
        assertThat(Procfs.isRunning(background)).as("background process still running").isFalse();
    }

    @Test
    void killFromAnotherThreadStopsTheTreeAndReportsKilled() throws Exception {
        CommandRun run = new CommandRun(task("sleep 305 & sleep 305").build(), Duration.ofSeconds(1));
        CompletableFuture<Void> started = new CompletableFuture<>();
        CompletableFuture<CommandResult> result = CompletableFuture.supplyAsync(() -> run.run(() -> started.complete(null)));
        started.get(10, TimeUnit.SECONDS);
        run.kill("the agent shut down");
        CommandResult killed = result.get(15, TimeUnit.SECONDS);
        assertThat(killed.outcome()).isEqualTo(Outcome.KILLED);
        assertThat(killed.reason()).isEqualTo("the agent shut down");
        assertNoProcessMatches("sleep 305");
    }

    @Test
    void aCancelStopsTheTreeAndReportsCancelled() throws Exception {
        CommandRun run = new CommandRun(task("sleep 309 & sleep 309").build(), Duration.ofSeconds(1));
        CompletableFuture<Void> started = new CompletableFuture<>();
        CompletableFuture<CommandResult> result = CompletableFuture.supplyAsync(() -> run.run(() -> started.complete(null)));
        started.get(10, TimeUnit.SECONDS);
        run.cancel();
        CommandResult cancelled = result.get(15, TimeUnit.SECONDS);
        assertThat(cancelled.outcome()).isEqualTo(Outcome.CANCELLED);
        assertNoProcessMatches("sleep 309");
    }

    private static void assertNoProcessMatches(String regex) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (true) {
            long alive = ProcessHandle.allProcesses()
                    .filter(p -> p.info().commandLine().map(c -> c.matches(".*" + regex + ".*")).orElse(false))
                    .count();
            if (alive == 0) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError(alive + " process(es) matching '" + regex + "' still alive");
            }
            Thread.sleep(50);
        }
    }
}
