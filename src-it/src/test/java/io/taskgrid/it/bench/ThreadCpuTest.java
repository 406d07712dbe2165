package io.taskgrid.it.bench;

import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import static org.assertj.core.api.Assertions.assertThat;

class ThreadCpuTest {

    @Test
    void readsTheTicksAfterANameWithSpacesAndParentheses() {
        // utime 1234 and stime 56 are the 14th and 15th fields of the line
        String line = "4242 (Default (x) 12) S 1 4242 4242 0 -1 4194368 100 0 0 0 1234 56 0 0 20 0 40 0 100 0 0";
        ThreadCpu.Sample sample = ThreadCpu.parse(line);
        assertThat(sample.name()).isEqualTo("Default (x) 12");
        assertThat(sample.ticks()).isEqualTo(1290);
    }

    @Test
    void refusesALineThatIsNoStatLine() {
        assertThat(ThreadCpu.parse("garbage")).isNull();
        assertThat(ThreadCpu.parse("1 (x) S 1 2")).isNull();
        assertThat(ThreadCpu.parse("1 (x) S 1 2 3 4 5 6 7 8 9 10 x y 0 0")).isNull();
    }

    @Test
    void poolsAreThreadsWhoseNamesDifferOnlyInNumbers() {
        List<ThreadCpu.Usage> pools = ThreadCpu.byPool(List.of(
                new ThreadCpu.Usage("Executor-thread-1 [10]", 30),
                new ThreadCpu.Usage("H2 writer [11]", 50),
                new ThreadCpu.Usage("Executor-thread-12 [12]", 40)));
        assertThat(pools).containsExactly(new ThreadCpu.Usage("Executor-thread-#", 70),
                new ThreadCpu.Usage("H# writer", 50));
    }

    @Test
    void javaNamesComeFromTheThreadDumpByNativeId() {
        Map<Long, String> names = new HashMap<>();
        ThreadCpu.parseDumpLine("\"Default Executor-thread-12\" #93 daemon prio=5 os_prio=0 cpu=1.2ms elapsed=3s "
                + "tid=0x00007f nid=0x5c3b waiting on condition  [0x00007f]", names);
        ThreadCpu.parseDumpLine("\"VM Thread\" os_prio=0 cpu=10ms elapsed=3s tid=0x00007f nid=12345 runnable", names);
        ThreadCpu.parseDumpLine("   java.lang.Thread.State: RUNNABLE", names);
        assertThat(names).containsExactlyInAnyOrderEntriesOf(Map.of(0x5c3bL, "Default Executor-thread-12",
                12345L, "VM Thread"));
        assertThat(ThreadCpu.withJavaNames(List.of(new ThreadCpu.Usage("Default Executo [23611]", 5),
                new ThreadCpu.Usage("other [7]", 1)), names)).containsExactly(
                new ThreadCpu.Usage("Default Executor-thread-12 [23611]", 5), new ThreadCpu.Usage("other [7]", 1));
    }

    @Test
    void aJvmNamesItsThreadsThroughJcmd() {
        Map<Long, String> names = ThreadCpu.javaNames(ProcessHandle.current().pid());
        assertThat(names.values()).contains(Thread.currentThread().getName());
    }

    @Test
    void countsTheCpuOfAThreadAgainstThatThread() throws Exception {
        ThreadCpu cpu = ThreadCpu.start(ProcessHandle.current().pid());
        CountDownLatch spun = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Thread busy = new Thread(() -> {
            // 300 ms of this thread's own CPU, however busy the machine is
            ThreadMXBean bean = ManagementFactory.getThreadMXBean();
            long x = 0;
            while (bean.getCurrentThreadCpuTime() < 300_000_000L) {
                x += System.nanoTime() % 7;
            }
            spun.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (x == 42) {
                System.out.println(x);
            }
        }, "benchbusy");
        busy.start();
        try {
            spun.await();
            List<ThreadCpu.Usage> usage = cpu.sinceStart();
            ThreadCpu.Usage mine = usage.stream().filter(u -> u.name().startsWith("benchbusy ")).findFirst()
                    .orElseThrow();
            assertThat(mine.cpuMs()).isBetween(250.0, 600.0);
        } finally {
            release.countDown();
            busy.join();
        }
    }
}
