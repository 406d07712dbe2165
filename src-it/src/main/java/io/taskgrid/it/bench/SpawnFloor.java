package io.taskgrid.it.bench;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The machine's own limit for what a task runner does per task: start {@code /bin/sh -c true} with
 * {@link ProcessBuilder} (output through pipes, as an agent captures it) and wait for it, as fast as it goes, from
 * {@code threads} threads. Run in a JVM of its own, with the launch mechanism the benchmark chooses (VFORK by
 * default), so that its CPU counters hold nothing else. Prints one line of JSON.
 *
 * <p>Usage: {@code SpawnFloor THREADS SECONDS}
 */
public final class SpawnFloor {

    private SpawnFloor() {
    }

    public static void main(String[] args) throws Exception {
        int threads = Integer.parseInt(args[0]);
        double seconds = Double.parseDouble(args[1]);
        // Warm up the launch path and the JIT a little; not counted.
        for (int i = 0; i < 50; i++) {
            spawnOnce();
        }
        long pid = ProcessHandle.current().pid();
        double cpuBefore = ProcStat.cpuSeconds(pid);
        AtomicLong count = new AtomicLong();
        long[][] latencies = new long[threads][];
        long deadline = System.nanoTime() + (long) (seconds * 1e9);
        List<Thread> workers = new ArrayList<>();
        long started = System.nanoTime();
        for (int t = 0; t < threads; t++) {
            int index = t;
            Thread worker = new Thread(() -> {
                long[] mine = new long[1 << 20];
                int n = 0;
                while (System.nanoTime() < deadline && n < mine.length) {
                    long t0 = System.nanoTime();
                    try {
                        spawnOnce();
                    } catch (IOException | InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                    mine[n++] = System.nanoTime() - t0;
                }
                latencies[index] = Arrays.copyOf(mine, n);
                count.addAndGet(n);
            });
            worker.start();
            workers.add(worker);
        }
        for (Thread worker : workers) {
            worker.join();
        }
        double elapsed = (System.nanoTime() - started) / 1e9;
        double cpu = ProcStat.cpuSeconds(pid) - cpuBefore;
        long[] all = Arrays.stream(latencies).flatMapToLong(Arrays::stream).sorted().toArray();
        System.out.printf(java.util.Locale.ROOT,
                "{\"threads\":%d,\"spawns\":%d,\"perSecond\":%.1f,\"cpuMsPerSpawn\":%.3f,\"medianMs\":%.3f,"
                        + "\"launchMechanism\":\"%s\"}%n",
                threads, count.get(), count.get() / elapsed, cpu * 1000 / count.get(),
                all.length == 0 ? 0 : all[all.length / 2] / 1e6,
                System.getProperty("jdk.lang.Process.launchMechanism", "default"));
    }

    private static void spawnOnce() throws IOException, InterruptedException {
        Process process = new ProcessBuilder("/bin/sh", "-c", "true").start();
        process.getOutputStream().close();
        process.getInputStream().readAllBytes();
        process.getErrorStream().readAllBytes();
        process.waitFor();
    }
}
