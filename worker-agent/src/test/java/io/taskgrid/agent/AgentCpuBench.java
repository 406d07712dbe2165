package io.taskgrid.agent;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.Phase;
import io.taskgrid.proto.v1.StatusReport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * What the agent costs per task, measured rather than guessed: N `true` tasks through an in-process agent and
 * FakeMaster, the master keeping the agent's credit (slots + prefetch) full, and this JVM's CPU time
 * (/proc/self/stat utime + stime: the agent, the in-process master and gRPC, not the shells) divided by N. Also what
 * storing and removing one result in the outbox costs. Runs only when asked:
 * {@code -Dtest=AgentCpuBench -Dtaskgrid.bench.tasks=5000}.
 */
class AgentCpuBench {

    @TempDir
    Path stateDir;

    @Test
    void cpuPerTask() throws Exception {
        int tasks = Integer.getInteger("taskgrid.bench.tasks", 0);
        assumeTrue(tasks > 0, "a benchmark: give -Dtaskgrid.bench.tasks=N");
        int slots = Integer.getInteger("taskgrid.bench.slots", 2);
        int prefetch = Integer.getInteger("taskgrid.bench.prefetch", slots);
        outboxCost(2000);
        commandRunCost(Math.min(1000, tasks));

        FakeMaster master = new FakeMaster();
        String name = InProcessServerBuilder.generateName();
        Server server = InProcessServerBuilder.forName(name).directExecutor().addService(master).build().start();
        AgentOptions options = AgentOptions.parse("--id", "w-bench", "--slots", Integer.toString(slots),
                "--prefetch", Integer.toString(prefetch), "--state-dir", stateDir.toString(), "--token", "tgj_b");
        ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
        MasterLink link = new MasterLink(channel, new JoinTokenCredentials("tgj_b", false), options.workerId(),
                options.slots(), options.prefetch(), options.labels(), "bench",
                new Backoff(Duration.ofMillis(50), Duration.ofMillis(200)), name, Duration.ofSeconds(1));
        WorkerAgent agent = new WorkerAgent(options, null, link, new Outbox(stateDir), null);
        Thread linkThread = new Thread(agent::runLink, "bench-link");
        linkThread.start();
        try {
            master.nextHello();
            int warm = Math.min(500, tasks);
            run(master, warm, slots + prefetch, "w");
            long cpuBefore = cpuTicks();
            long wallBefore = System.nanoTime();
            int started = run(master, tasks, slots + prefetch, "m");
            long wall = System.nanoTime() - wallBefore;
            long cpu = cpuTicks() - cpuBefore;
            double tick = 1000.0 / 100; // ms per clock tick (USER_HZ = 100)
            System.out.printf("BENCH tasks=%d slots=%d prefetch=%d: %.0f tasks/s, JVM CPU %.3f ms/task "
                            + "(%d ticks), STARTED reports %d%n", tasks, slots, prefetch, tasks / (wall / 1e9),
                    cpu * tick / tasks, cpu, started);
        } finally {
            agent.shutdown();
            linkThread.join(10_000);
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /** Runs {@code n} `true` tasks, keeping {@code credit} assigned and not finished; returns the STARTED count. */
    private static int run(FakeMaster master, int n, int credit, String prefix) throws InterruptedException {
        int assigned = 0;
        int finished = 0;
        int started = 0;
        while (finished < n) {
            while (assigned < n && assigned - finished < credit) {
                assigned++;
                master.assign(FakeMaster.assignment("t" + prefix + assigned, prefix + "-" + assigned, "true"));
            }
            StatusReport report = master.nextReport();
            if (report.getPhase() == Phase.STARTED) {
                started++;
                continue;
            }
            assertThat(report.getOutcome()).as(report.getReason()).isEqualTo(Outcome.EXITED);
            finished++;
        }
        return started;
    }

    /** Runs {@code n} `true` commands one after the other with CommandRun alone: the floor under the agent's cost. */
    private static void commandRunCost(int n) throws Exception {
        for (int i = 0; i < n / 4; i++) {
            new CommandRun(FakeMaster.assignment("t", "a", "true"), Duration.ofSeconds(1)).run(() -> { });
        }
        long cpu = cpuTicks();
        long start = System.nanoTime();
        for (int i = 0; i < n; i++) {
            new CommandRun(FakeMaster.assignment("t", "a", "true"), Duration.ofSeconds(1)).run(() -> { });
        }
        long wall = System.nanoTime() - start;
        System.out.printf("BENCH CommandRun alone, one thread: %.0f runs/s, JVM CPU %.3f ms/run (%d)%n",
                n / (wall / 1e9), (cpuTicks() - cpu) * 10.0 / n, n);
    }

    /** Stores and removes {@code n} typical results, as each task does once. */
    private void outboxCost(int n) throws Exception {
        Path dir = Files.createDirectory(stateDir.resolve("outbox-cost"));
        Outbox outbox = new Outbox(dir);
        StatusReport report = StatusReport.newBuilder().setWorkerId("w-bench").setTaskId("t-0123456789")
                .setAttemptId("a-0123456789abcdef").setPhase(Phase.FINISHED).setOutcome(Outcome.EXITED)
                .setStdout(com.google.protobuf.ByteString.copyFromUtf8("hello\n")).setRanMicros(1200).build();
        for (int i = 0; i < n / 4; i++) {
            outbox.save(report);
            outbox.remove(report);
        }
        long cpu = cpuTicks();
        long start = System.nanoTime();
        for (int i = 0; i < n; i++) {
            outbox.save(report);
            outbox.remove(report);
        }
        long wall = System.nanoTime() - start;
        System.out.printf("BENCH outbox save+remove: %.1f us wall, %.3f ms CPU per result (%d)%n",
                wall / 1e3 / n, (cpuTicks() - cpu) * 10.0 / n, n);
        Files.delete(dir);
    }

    /** This process's user + system CPU so far, in clock ticks (fields 14 and 15 of /proc/self/stat). */
    static long cpuTicks() throws Exception {
        String stat = Files.readString(Path.of("/proc/self/stat"));
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
    }
}
