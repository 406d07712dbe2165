package io.taskgrid.agent;

import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.Outcome;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.ref.WeakReference;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

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
    void pastTheLimitTheHeadAndTheTailAreKeptAndFlagged() {
        CommandResult result = run(task("printf 0123456789abcdef; printf xyz >&2").setOutputLimitBytes(10));
        assertThat(out(result)).isEqualTo("01234\n[taskgrid: 6 bytes dropped]\nbcdef");
        assertThat(result.stdoutTruncated()).isTrue();
        assertThat(result.stdoutTotal()).isEqualTo(16);
        assertThat(result.stderrTotal()).isEqualTo(3);
        assertThat(err(result)).isEqualTo("xyz");
        assertThat(result.stderrTruncated()).isFalse();
    }

    @Test
    void aFloodOfOutputIsDrainedSoTheCommandFinishes() {
        CommandResult result = run(task("head -c 20000000 /dev/zero; echo done >&2").setOutputLimitBytes(1 << 20));
        assertThat(result.exitCode()).isZero();
        assertThat(result.stdout()).hasSize((1 << 20) + StreamCapture.marker(20_000_000 - (1 << 20)).length);
        assertThat(result.stdoutTotal()).isEqualTo(20_000_000);
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

    /**
     * A background process whose output goes elsewhere holds no pipe, so its task ends at once; the agent's sweeper
     * still finds it in the task's session and stops it within its interval (TERM).
     */
    @Test
    void aBackgroundProcessWithItsOutputElsewhereIsStoppedSoonAfterItsTask() throws Exception {
        Path pids = dir.resolve("pids");
        long start = System.nanoTime();
        CommandResult result = run(task("sleep 322 >/dev/null 2>&1 </dev/null & echo $! > " + pids + "; echo started"));
        assertThat(out(result)).isEqualTo("started\n");
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).as("the task did not wait for it")
                .isLessThan(LeftoverSweeper.INTERVAL.toMillis() * 5);
        long background = Long.parseLong(Files.readString(pids).trim());
        await().atMost(LeftoverSweeper.INTERVAL.multipliedBy(2).plusSeconds(2))
                .pollInterval(Duration.ofMillis(20))
                .untilAsserted(() -> assertThat(Procfs.isRunning(background)).as("the background sleep runs").isFalse());
    }

    /** The same for one that ignores TERM: KILL once the grace (1 s here) is over. */
    @Test
    void aLeftoverThatIgnoresTermIsKilledAfterTheGrace() throws Exception {
        Path pids = dir.resolve("pids");
        CommandResult result = run(task("(trap '' TERM; exec sleep 323) >/dev/null 2>&1 </dev/null & echo $! > "
                + pids));
        assertThat(result.exitCode()).isZero();
        long background = Long.parseLong(Files.readString(pids).trim());
        Thread.sleep(LeftoverSweeper.INTERVAL.toMillis() * 2 + 300);
        assertThat(Procfs.isRunning(background)).as("TERM is ignored: runs until the grace is over").isTrue();
        await().atMost(LeftoverSweeper.INTERVAL.multipliedBy(3).plusSeconds(3))
                .pollInterval(Duration.ofMillis(20))
                .untilAsserted(() -> assertThat(Procfs.isRunning(background)).as("the background sleep runs").isFalse());
        assertNoProcessMatches("sleep 323");
    }

    /** The usual short command costs the agent no thread: its output is pumped, its leftovers swept, by shared ones. */
    @Test
    void aShortCommandStartsNoThread() {
        for (int i = 0; i < 5; i++) {
            run(task("echo warm; echo up >&2"));
        }
        java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
        long before = threads.getTotalStartedThreadCount();
        for (int i = 0; i < 50; i++) {
            CommandResult result = run(task("echo out; echo err >&2"));
            assertThat(out(result)).isEqualTo("out\n");
            assertThat(err(result)).isEqualTo("err\n");
        }
        assertThat(threads.getTotalStartedThreadCount() - before).as("threads started by 50 commands").isZero();
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

    /**
     * Waits until no live process (zombies do not count) has a command line matching {@code regex}. Reads /proc
     * itself: ProcessHandle.Info leaves the command line empty where it cannot read it, which would make every
     * process look like no match at all.
     */
    private static void assertNoProcessMatches(String regex) throws Exception {
        assertThat(Path.of("/proc/self/cmdline")).as("this test reads /proc").isReadable();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        java.util.regex.Pattern pattern = java.util.regex.Pattern.compile(".*" + regex + ".*", java.util.regex.Pattern.DOTALL);
        while (true) {
            List<String> alive = new java.util.ArrayList<>();
            try (java.nio.file.DirectoryStream<Path> processes = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
                for (Path process : processes) {
                    try {
                        String cmdline = Files.readString(process.resolve("cmdline")).replace('\0', ' ');
                        if (pattern.matcher(cmdline).matches() && Procfs.isRunning(Long.parseLong(
                                process.getFileName().toString()))) {
                            alive.add(process.getFileName() + ": " + cmdline);
                        }
                    } catch (IOException gone) {
                        // exited while we looked
                    }
                }
            }
            if (alive.isEmpty()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError(alive.size() + " process(es) matching '" + regex + "' still alive: " + alive);
            }
            Thread.sleep(50);
        }
    }

    @Test
    void theCommandDoesNotSeeTheAgentsCredentialsOrSettings() {
        // Set for this test JVM by the build (surefire environmentVariables), as an operator would for the agent.
        assertThat(System.getenv("TASKGRID_JOIN_TOKEN")).as("set up by the build").isNotBlank();
        String secret = System.getenv("TASKGRID_JOIN_TOKEN");
        CommandResult result = run(task("env; cat /proc/$$/environ | tr '\\0' '\\n'")
                .putEnv("TASK_OWN", "mine"));
        assertThat(out(result)).doesNotContain(secret).doesNotContain("TASKGRID_").doesNotContain("JAVA_TOOL_OPTIONS")
                .contains("TASK_OWN=mine").contains("PATH=");
    }

    @Test
    void asAnotherUserTheCommandRunsWithThatUsersIdentityAndHome() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(isRoot(), "switching users needs root");
        RunAs nobody = RunAs.resolve("nobody", true);
        CommandResult result = new CommandRun(task("id -u; id -g; echo $HOME $USER; pwd").build(), Duration.ofSeconds(1),
                null, nobody).run(() -> { });
        assertThat(result.exitCode()).as(err(result)).isZero();
        assertThat(out(result).split("\n")).containsExactly(Long.toString(nobody.uid()), Long.toString(nobody.gid()),
                nobody.home() + " nobody", nobody.defaultDirectory().toString());
    }

    /**
     * setsid and setpriv run as root before the switch; had they got the task's environment, LD_PRELOAD, LD_AUDIT or
     * LD_DEBUG_OUTPUT would have run a task's code or written a task's file as root. LD_DEBUG makes the loader name
     * every program it loads with the variable set, so the programs that got the task's environment show on stderr.
     */
    @Test
    void asAnotherUserNothingTheTaskSetsReachesTheProgramsThatRunAsRoot() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(isRoot(), "switching users needs root");
        CommandResult result = new CommandRun(task("id -u").putEnv("LD_DEBUG", "files").build(), Duration.ofSeconds(1),
                null, RunAs.resolve("nobody", true)).run(() -> { });
        assertThat(result.exitCode()).as(err(result)).isZero();
        assertThat(err(result)).as("the task's own shell had the variable").contains("/bin/sh")
                .doesNotContain("setpriv").doesNotContain("setsid");
        assertThat(out(result).trim()).isEqualTo(Long.toString(RunAs.resolve("nobody", true).uid()));
    }

    @Test
    void asAnotherUserTheTaskStillGetsItsEnvironmentExactlyAndNotOnItsCommandLine() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(isRoot(), "switching users needs root");
        String value = "it's \"quoted\" $HOME `id` \\ \nsecond line\n";
        CommandResult result = new CommandRun(task("printf '%s|' \"$TASK_SECRET\" \"$PLAIN\"; env | grep -c TASKGRID_;"
                + " tr '\\0' ' ' < /proc/$$/cmdline").putEnv("TASK_SECRET", value).putEnv("PLAIN", "p").build(),
                Duration.ofSeconds(1), null, RunAs.resolve("nobody", true)).run(() -> { });
        assertThat(out(result)).as(err(result)).startsWith(value + "|p|0\n");
        assertThat(out(result).substring((value + "|p|0\n").length())).doesNotContain("quoted");
    }

    /**
     * setsid leaves the process group, and the shell's exit re-parents the sleep to init, beyond the reach of group
     * and descendants alike: only the PID namespace, whose end the kernel enforces, still takes it along.
     */
    @Test
    void asAnotherUserNothingOutlivesItsTaskNotEvenWhatDetachedItself() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(isRoot(), "switching users needs root");
        RunAs nobody = RunAs.resolve("nobody", true);
        org.junit.jupiter.api.Assumptions.assumeTrue(nobody.ownPidNamespace(), "no PID namespaces on this machine");
        CommandResult result = new CommandRun(task("setsid sleep 313 >/dev/null 2>&1 </dev/null & "
                + "(setsid sleep 314 >/dev/null 2>&1 </dev/null &); sleep 0.3; "
                + "cat /proc/[0-9]*/comm 2>/dev/null | grep -c '^sleep$'; exit 5")
                .build(), Duration.ofSeconds(1), null, nobody).run(() -> { });
        assertThat(result.exitCode()).as(err(result)).isEqualTo(5);
        assertThat(out(result).trim()).as("both sleeps ran, detached").isEqualTo("2");
        assertNoProcessMatches("sleep 31[34]");
    }

    @Test
    void asAnotherUserTheCommandIsStoppedByTermWithinItsGrace() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(isRoot(), "switching users needs root");
        CommandRun run = new CommandRun(task("trap 'echo got TERM; exit 3' TERM; sleep 312 & wait").build(),
                Duration.ofSeconds(20), null, RunAs.resolve("nobody", true));
        CompletableFuture<Void> started = new CompletableFuture<>();
        CompletableFuture<CommandResult> result = CompletableFuture.supplyAsync(() -> run.run(() -> started.complete(null)));
        started.get(10, TimeUnit.SECONDS);
        Thread.sleep(500);
        long t0 = System.nanoTime();
        run.cancel();
        CommandResult cancelled = result.get(15, TimeUnit.SECONDS);
        assertThat(cancelled.outcome()).isEqualTo(Outcome.CANCELLED);
        assertThat(out(cancelled)).contains("got TERM");
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("TERM did it, not KILL after the grace")
                .isLessThan(Duration.ofSeconds(15));
        assertNoProcessMatches("sleep 312");
    }

    @Test
    void asAnotherUserTheWholeTreeIsStillStoppedOnCancel() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(isRoot(), "switching users needs root");
        CommandRun run = new CommandRun(task("sleep 311 & sleep 311").build(), Duration.ofSeconds(1), null,
                RunAs.resolve("nobody", true));
        CompletableFuture<Void> started = new CompletableFuture<>();
        CompletableFuture<CommandResult> result = CompletableFuture.supplyAsync(() -> run.run(() -> started.complete(null)));
        started.get(10, TimeUnit.SECONDS);
        Thread.sleep(300);
        run.cancel();
        assertThat(result.get(15, TimeUnit.SECONDS).outcome()).isEqualTo(Outcome.CANCELLED);
        assertNoProcessMatches("sleep 311");
    }

    /**
     * A process that left the command's tree (a double fork into a session of its own, which no agent without
     * --run-as stops) and kept stdout and stderr holds the pipes open after the task is stopped. The agent waits a
     * while for the rest of the output, then lets go: no thread left blocked reading, no capture kept, no pipe open.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"cancel", "timeout"})
    void aProcessHoldingTheOutputAfterTheTaskStoppedKeepsNoReaderThreadOrBufferInTheAgent(String how)
            throws Exception {
        run(task("echo warm")); // the readers' pool has its threads
        int readingBefore = readersReading();
        long descriptorsBefore = openDescriptors();
        Path pid = dir.resolve("detached.pid");
        List<WeakReference<AttemptOutput>> buffers = new java.util.ArrayList<>();
        try {
            CommandResult result = runStoppedWhileDetachedHoldsPipes(how, pid, buffers);
            assertThat(result.outcome()).isEqualTo(how.equals("cancel") ? Outcome.CANCELLED : Outcome.TIMED_OUT);
            assertThat(out(result)).isEqualTo("started\n");
            assertThat(Procfs.isRunning(Long.parseLong(Files.readString(pid).trim())))
                    .as("the detached process still runs, holding the pipes").isTrue();

            await().atMost(Duration.ofSeconds(5)).untilAsserted(() ->
                    assertThat(readersReading()).as("reader threads still blocked reading").isEqualTo(readingBefore));
            await().atMost(Duration.ofSeconds(5)).untilAsserted(() ->
                    assertThat(openDescriptors()).as("file descriptors of this JVM").isEqualTo(descriptorsBefore));
            await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
                System.gc();
                assertThat(buffers.get(0).get()).as("the command's output buffers, kept by nothing").isNull();
            });
            assertThat(result.reason()).contains("output was cut off");
        } finally {
            if (Files.exists(pid)) {
                ProcessHandle.of(Long.parseLong(Files.readString(pid).trim())).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
    }

    /**
     * Runs a command that leaves a detached process holding its stdout and stderr, and stops it by {@code how}; only a
     * weak reference to its output buffers stays with the caller.
     */
    private static CommandResult runStoppedWhileDetachedHoldsPipes(String how, Path pid,
                                                                   List<WeakReference<AttemptOutput>> buffers)
            throws InterruptedException {
        AttemptOutput output = new AttemptOutput("t1", "a1", 1 << 20);
        buffers.add(new WeakReference<>(output));
        CommandRun run = new CommandRun(task("(setsid sh -c 'echo $$ > " + pid + "; exec sleep 320' &); echo started; "
                + "sleep 321").setTimeoutSeconds(how.equals("timeout") ? 1 : 0).build(), Duration.ofSeconds(1), null,
                null, output, () -> { });
        CountDownLatch started = new CountDownLatch(1);
        Thread canceller = new Thread(() -> {
            try {
                started.await();
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                return;
            }
            if (how.equals("cancel")) {
                run.cancel();
            }
        });
        canceller.start();
        CommandResult result = run.run(started::countDown);
        canceller.join();
        return result;
    }

    /** Threads of the output readers' pool busy reading (a thread idle in the pool waits, and is not counted). */
    private static int readersReading() {
        return (int) Thread.getAllStackTraces().keySet().stream()
                .filter(thread -> thread.getName().equals("output-reader"))
                .filter(thread -> thread.getState() == Thread.State.RUNNABLE)
                .count();
    }

    private static long openDescriptors() throws IOException {
        try (java.util.stream.Stream<Path> descriptors = Files.list(Path.of("/proc/self/fd"))) {
            return descriptors.count();
        }
    }

    /**
     * With --run-as, the working directory is entered as the task's user: a directory that user may not enter (here,
     * one inside root's private test directory) is refused, and the command does not run there, nor anywhere.
     */
    @Test
    void asAnotherUserAWorkingDirectoryThatUserMayNotEnterIsRefused() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(isRoot(), "switching users needs root");
        Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        Path inside = Files.createDirectory(dir.resolve("private"));
        Files.setPosixFilePermissions(inside, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        Path marker = inside.resolve("ran");
        CommandResult result = new CommandRun(task("touch ran; pwd").setCwd(inside.toString()).build(),
                Duration.ofSeconds(1), null, RunAs.resolve("nobody", true)).run(() -> { });
        assertThat(result.outcome()).as(out(result) + err(result)).isEqualTo(Outcome.FAILED_TO_START);
        assertThat(marker).doesNotExist();
        assertThat(err(result)).isEmpty();
        assertThat(result.reason()).contains(inside.toString());
    }

    /** The reason is one for a directory that is not there and one the user may not enter: it tells nothing apart. */
    @Test
    void asAnotherUserTheReasonDoesNotTellAMissingDirectoryFromAForbiddenOne() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(isRoot(), "switching users needs root");
        Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        Path existing = Files.createDirectory(dir.resolve("there"));
        Path missing = dir.resolve("not-there");
        RunAs nobody = RunAs.resolve("nobody", true);
        CommandResult forbidden = new CommandRun(task("true").setCwd(existing.toString()).build(),
                Duration.ofSeconds(1), null, nobody).run(() -> { });
        CommandResult absent = new CommandRun(task("true").setCwd(missing.toString()).build(),
                Duration.ofSeconds(1), null, nobody).run(() -> { });
        assertThat(forbidden.outcome()).isEqualTo(Outcome.FAILED_TO_START);
        assertThat(absent.outcome()).isEqualTo(Outcome.FAILED_TO_START);
        assertThat(forbidden.reason().replace(existing.toString(), "DIR"))
                .isEqualTo(absent.reason().replace(missing.toString(), "DIR"));
        assertThat(err(forbidden)).isEqualTo(err(absent)).isEmpty();
    }

    @Test
    void asAnotherUserTheCommandRunsInAWorkingDirectoryThatUserMayEnter() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(isRoot(), "switching users needs root");
        Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        Path open = Files.createDirectory(dir.resolve("open"));
        CommandResult result = new CommandRun(task("pwd; exit 126").setCwd(open.toString()).build(),
                Duration.ofSeconds(1), null, RunAs.resolve("nobody", true)).run(() -> { });
        assertThat(result.outcome()).as(err(result)).isEqualTo(Outcome.EXITED);
        assertThat(result.exitCode()).as("the command's own 126 is its exit code").isEqualTo(126);
        assertThat(out(result)).isEqualTo(open.toRealPath() + "\n");
    }

    /** exec's own limit (E2BIG) is the task's doing: it fails, and is not taken for an agent that cannot fork. */
    @Test
    void anEnvironmentTooLargeToStartFailsTheTaskAndIsNotHandedBack() {
        CommandResult result = run(task("true").putEnv("HUGE", "x".repeat(200_000)));
        assertThat(result.outcome()).isEqualTo(Outcome.FAILED_TO_START);
        assertThat(result.reason()).contains("error=7");
    }

    /**
     * With an allow-list, the task's environment is limited too: a variable the operator did not allow fails the
     * task without starting it, and of the agent's own environment only the base and the allowed names pass.
     */
    @Test
    void aRestrictedEnvironmentRefusesATasksOtherVariablesAndPassesOnlyTheBaseOfTheAgents() {
        TaskEnvironment.Policy policy = TaskEnvironment.Policy.allowing(List.of("GREETING"));
        Path marker = dir.resolve("ran");
        CommandResult refused = new CommandRun(task("touch " + marker).putEnv("GREETING", "hi")
                .putEnv("LD_PRELOAD", "/tmp/x.so").putEnv("BASH_ENV", "/tmp/x.sh").build(), Duration.ofSeconds(1),
                null, null, new AttemptOutput("t1", "a1", 1 << 20), () -> { }, policy).run(() -> { });
        assertThat(refused.outcome()).isEqualTo(Outcome.FAILED_TO_START);
        assertThat(refused.reason()).contains("--allow-env").endsWith("that are not: BASH_ENV, LD_PRELOAD");
        assertThat(marker).doesNotExist();

        CommandResult allowed = new CommandRun(task("env").putEnv("GREETING", "hi").build(), Duration.ofSeconds(1),
                null, null, new AttemptOutput("t1", "a1", 1 << 20), () -> { }, policy).run(() -> { });
        assertThat(out(allowed).lines().map(line -> line.substring(0, line.indexOf('='))))
                .allMatch(name -> TaskEnvironment.BASE.contains(name) || name.startsWith("LC_")
                        || name.equals("GREETING") || name.equals("PWD"))
                .contains("GREETING", "PATH");
    }

    static boolean isRoot() {
        try {
            return ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue() == 0;
        } catch (IOException e) {
            return false;
        }
    }
}
