package io.taskgrid.agent;

import io.taskgrid.proto.v1.Assignment;
import io.taskgrid.proto.v1.Outcome;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What one run of a short command costs the agent's JVM, so that the figures of issue 17 can be taken again: CPU of
 * this JVM (utime + stime from /proc/self/stat, which leaves out the children's) and of its waited-for children
 * (cutime + cstime), threads started, and wall time, each divided by the number of runs. Off by default (it takes a
 * minute and wants a quiet machine); run it with
 *
 * <pre>./mvnw -o -q -pl worker-agent -am test -Dtest=CommandRunCostTest -Dsurefire.failIfNoSpecifiedTests=false \
 *     -Dtaskgrid.cost.runs=5000</pre>
 *
 * <p>It also compares {@code setsid /bin/sh -c true} with {@code /bin/sh -c true} spawned straight through
 * ProcessBuilder ({@code -Dtaskgrid.cost.spawns=2000}), which is what the extra exec of setsid costs per command. The
 * figures go to stdout (target/surefire-reports/*-output.txt) as one JSON object per line.
 */
@EnabledIfSystemProperty(named = "taskgrid.cost.runs", matches = "\\d+")
class CommandRunCostTest {

    private static final long TICKS_PER_SECOND = 100; // USER_HZ, 100 on every Linux the agent runs on

    @Test
    void costOfOneRunOfTrue() throws Exception {
        // As the agent does before its first spawn (see WorkerAgent): only effective before the JDK's first spawn.
        if (System.getProperty("jdk.lang.Process.launchMechanism") == null && Runtime.version().feature() < 25) {
            System.setProperty("jdk.lang.Process.launchMechanism", "VFORK");
        }
        int runs = Integer.getInteger("taskgrid.cost.runs");
        int spawns = Integer.getInteger("taskgrid.cost.spawns", 2000);
        Assignment assignment = Assignment.newBuilder().setTaskId("t").setAttemptId("a").setCmd("true")
                .setTimeoutSeconds(60).setOutputLimitBytes(1 << 20).build();
        for (int i = 0; i < Math.min(1000, runs); i++) {
            assertThat(new CommandRun(assignment, Duration.ofSeconds(1)).run(() -> { }).outcome())
                    .isEqualTo(Outcome.EXITED);
        }
        Map<String, Long> threadsBefore = ticksByThread();
        Sample before = Sample.now();
        for (int i = 0; i < runs; i++) {
            new CommandRun(assignment, Duration.ofSeconds(1)).run(() -> { });
        }
        Sample after = Sample.now();
        System.out.println(after.minus(before, "CommandRun true", runs));
        Map<String, Long> threadsAfter = ticksByThread();
        StringBuilder byThread = new StringBuilder("{\"what\":\"jvmCpuMsPerRun by thread\"");
        threadsAfter.forEach((name, ticks) -> {
            long delta = ticks - threadsBefore.getOrDefault(name, 0L);
            if (delta > 0) {
                byThread.append(String.format(",\"%s\":%.3f", name, delta * 1000.0 / TICKS_PER_SECOND / runs));
            }
        });
        System.out.println(byThread.append("}"));

        // The pipes alone: what finding their descriptors in /proc/self/fd costs (see OsPipe).
        Sample pipesBefore = Sample.now();
        for (int i = 0; i < runs; i++) {
            for (OsPipe pipe : OsPipe.openTwo()) {
                pipe.close();
            }
        }
        System.out.println(Sample.now().minus(pipesBefore, "OsPipe.openTwo + close", runs));

        if (spawns > 0) {
            File devNull = new File("/dev/null");
            for (List<String> command : List.of(List.of("/bin/sh", "-c", "true"),
                    List.of("/usr/bin/setsid", "/bin/sh", "-c", "true"),
                    List.of("/bin/sh", "-c", "true"),
                    List.of("/usr/bin/setsid", "/bin/sh", "-c", "true"))) {
                ProcessBuilder builder = new ProcessBuilder(command).redirectInput(devNull)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD);
                for (int i = 0; i < spawns / 4; i++) {
                    builder.start().waitFor();
                }
                Sample start = Sample.now();
                for (int i = 0; i < spawns; i++) {
                    builder.start().waitFor();
                }
                System.out.println(Sample.now().minus(start, String.join(" ", command), spawns));
            }
        }
    }

    /** CPU (utime + stime, ticks) of this JVM's threads, summed by thread name (comm: its first 15 characters). */
    private static Map<String, Long> ticksByThread() throws IOException {
        Map<String, Long> ticks = new TreeMap<>();
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc/self/task"))) {
            for (Path task : tasks) {
                try {
                    String stat = new String(Files.readAllBytes(task.resolve("stat")), StandardCharsets.US_ASCII);
                    String name = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
                            .replaceAll("[0-9]+$", "#").replace('"', '\'');
                    String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    ticks.merge(name, Long.parseLong(fields[11]) + Long.parseLong(fields[12]), Long::sum);
                } catch (IOException e) {
                    // the thread ended while we looked
                }
            }
        }
        return ticks;
    }

    /** CPU of this JVM and of its reaped children, in clock ticks; threads started; wall time. */
    private record Sample(long selfTicks, long childTicks, long threadsStarted, long nanos) {

        static Sample now() throws IOException {
            String stat = new String(Files.readAllBytes(Path.of("/proc/self/stat")), StandardCharsets.US_ASCII);
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            // after the name: state(0) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(11)
            // stime(12) cutime(13) cstime(14)
            long self = Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
            long children = Long.parseLong(fields[13]) + Long.parseLong(fields[14]);
            ThreadMXBean threads = ManagementFactory.getThreadMXBean();
            return new Sample(self, children, threads.getTotalStartedThreadCount(), System.nanoTime());
        }

        String minus(Sample before, String what, int n) {
            double msPerTick = 1000.0 / TICKS_PER_SECOND;
            return String.format("{\"what\":\"%s\",\"n\":%d,\"jvmCpuMsPerRun\":%.3f,\"childCpuMsPerRun\":%.3f,"
                            + "\"threadsStartedPerRun\":%.4f,\"wallMsPerRun\":%.3f,\"launchMechanism\":\"%s\"}",
                    what, n, (selfTicks - before.selfTicks) * msPerTick / n,
                    (childTicks - before.childTicks) * msPerTick / n,
                    (threadsStarted - before.threadsStarted) / (double) n, (nanos - before.nanos) / 1e6 / n,
                    System.getProperty("jdk.lang.Process.launchMechanism", "default"));
        }
    }
}
