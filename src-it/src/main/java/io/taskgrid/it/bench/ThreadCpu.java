package io.taskgrid.it.bench;

import jakarta.json.Json;
import jakarta.json.JsonArray;
import jakarta.json.JsonArrayBuilder;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * CPU time of each thread of a process over a phase, from /proc/PID/task/TID/stat, so that a figure such as "master
 * CPU per task" comes with where that time went (the group-commit writer, the gRPC event loops, the HTTP executor),
 * measured without a profiler. A snapshot before and one after; threads born during the phase count from zero, and
 * threads that ended during it are lost (their time still shows in the process's total).
 */
final class ThreadCpu {

    private static final double TICKS_PER_SECOND = 100.0;

    /** One thread at one moment: its name (comm, at most 15 characters on Linux) and its user + system ticks. */
    record Sample(String name, long ticks) {
    }

    /** A thread's or a group of threads' CPU over a phase. */
    record Usage(String name, double cpuMs) {
    }

    private final long pid;
    private final Map<Long, Sample> before;

    private ThreadCpu(long pid, Map<Long, Sample> before) {
        this.pid = pid;
        this.before = before;
    }

    /** Starts measuring the threads of {@code pid}. */
    static ThreadCpu start(long pid) {
        return new ThreadCpu(pid, snapshot(pid));
    }

    /** The threads' CPU since {@link #start}, busiest first; a process gone by now reads as no threads. */
    List<Usage> sinceStart() {
        Map<Long, Sample> after = snapshot(pid);
        List<Usage> usage = new ArrayList<>();
        after.forEach((tid, now) -> {
            Sample then = before.get(tid);
            long ticks = now.ticks() - (then == null ? 0 : then.ticks());
            if (ticks > 0) {
                usage.add(new Usage(now.name() + " [" + tid + "]", ticks * 1000 / TICKS_PER_SECOND));
            }
        });
        usage.sort(Comparator.comparingDouble(Usage::cpuMs).reversed());
        return usage;
    }

    /**
     * The same threads named by their Java names where {@code javaNames} (native thread id to name, from {@link
     * #javaNames}) has them: the kernel keeps only 15 characters of a name, which cuts "Default Executor-thread-12" to
     * "Default Executo".
     */
    static List<Usage> withJavaNames(List<Usage> threads, Map<Long, String> javaNames) {
        List<Usage> named = new ArrayList<>(threads.size());
        for (Usage thread : threads) {
            Matcher tid = TID.matcher(thread.name());
            String name = tid.find() ? javaNames.get(Long.parseLong(tid.group(1))) : null;
            named.add(name == null ? thread : new Usage(name + " [" + tid.group(1) + "]", thread.cpuMs()));
        }
        return named;
    }

    private static final Pattern TID = Pattern.compile(" \\[(\\d{1,18})]$");

    /**
     * The same, summed over threads whose names differ only in their numbers ("Default Executor-thread-12" and "-13"
     * are one pool): a pool of 40 threads each at 1 % is as visible as one thread at 40 %.
     */
    static List<Usage> byPool(List<Usage> threads) {
        Map<String, Double> pools = new LinkedHashMap<>();
        for (Usage thread : threads) {
            String name = thread.name().replaceAll(" \\[\\d+]$", "").replaceAll("\\d+", "#");
            pools.merge(name, thread.cpuMs(), Double::sum);
        }
        List<Usage> usage = new ArrayList<>();
        pools.forEach((name, ms) -> usage.add(new Usage(name, ms)));
        usage.sort(Comparator.comparingDouble(Usage::cpuMs).reversed());
        return usage;
    }

    /** The first {@code limit} as JSON: [{"thread": name, "cpuMs": ms, "perTaskMs": ms / tasks}, ...]. */
    static JsonArray json(List<Usage> usage, int limit, long tasks) {
        JsonArrayBuilder array = Json.createArrayBuilder();
        for (Usage u : usage.subList(0, Math.min(limit, usage.size()))) {
            var entry = Json.createObjectBuilder().add("thread", u.name()).add("cpuMs", Math.round(u.cpuMs()));
            if (tasks > 0) {
                entry.add("perTaskMs", Math.round(u.cpuMs() / tasks * 1000) / 1000.0);
            }
            array.add(entry);
        }
        return array.build();
    }

    /**
     * The Java names of the threads of the JVM {@code pid}, by native thread id, from {@code jcmd PID Thread.print};
     * empty when the JVM does not answer within 30 s. Asked after a phase, never during one: the thread dump stops
     * the JVM for a moment.
     */
    static Map<Long, String> javaNames(long pid) {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        Map<Long, String> names = new HashMap<>();
        try {
            Process process = new ProcessBuilder(jcmd.toString(), Long.toString(pid), "Thread.print")
                    .redirectErrorStream(true).start();
            process.getOutputStream().close();
            try (var lines = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = lines.readLine()) != null) {
                    parseDumpLine(line, names);
                }
            }
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (IOException e) {
            return Map.of();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Map.of();
        }
        return names;
    }

    private static final Pattern DUMP_LINE =
            Pattern.compile("^\"(.{1,200})\" .*\\bnid=(0x[0-9a-fA-F]+|[0-9]+)\\b.*");

    /** A thread's head line of a thread dump: {@code "name" #12 daemon prio=5 ... nid=0x1f03 ...}. */
    static void parseDumpLine(String line, Map<Long, String> names) {
        Matcher m = DUMP_LINE.matcher(line);
        if (m.matches()) {
            String nid = m.group(2);
            try {
                long tid = nid.startsWith("0x") ? Long.parseLong(nid.substring(2), 16) : Long.parseLong(nid);
                names.put(tid, m.group(1));
            } catch (NumberFormatException e) {
                // not a thread id after all
            }
        }
    }

    private static Map<Long, Sample> snapshot(long pid) {
        Map<Long, Sample> threads = new HashMap<>();
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path task : tasks) {
                long tid;
                try {
                    tid = Long.parseLong(task.getFileName().toString());
                } catch (NumberFormatException e) {
                    continue;
                }
                Sample thread = read(task.resolve("stat"));
                if (thread != null) {
                    threads.put(tid, thread);
                }
            }
        } catch (IOException e) {
            // the process is gone: no threads
        }
        return threads;
    }

    /** One thread's stat line: "TID (comm) state ppid ... utime stime ..."; the name may hold spaces and ')'. */
    static Sample read(Path stat) {
        String line;
        try {
            line = Files.readString(stat);
        } catch (IOException e) {
            return null;   // the thread ended between the listing and the read
        }
        return parse(line);
    }

    static Sample parse(String line) {
        int open = line.indexOf('(');
        int close = line.lastIndexOf(')');
        if (open < 0 || close < open || close + 2 > line.length()) {
            return null;
        }
        String[] fields = line.substring(close + 2).split(" ");
        if (fields.length < 13) {
            return null;
        }
        try {
            // after the name: state(0) ppid(1) ... utime(11) stime(12)
            return new Sample(line.substring(open + 1, close), Long.parseLong(fields[11]) + Long.parseLong(fields[12]));
        } catch (NumberFormatException e) {
            return null;
        }
    }
}
