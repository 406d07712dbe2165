package io.taskgrid.it;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The master's heap, read from outside with the JDK's {@code jcmd}: what is live after a full collection, and which
 * classes hold it. From outside because a leak is what stays reachable, and only a full GC in the master's own JVM
 * tells that apart from garbage not yet collected.
 */
final class MasterHeap {

    private static final Pattern USED = Pattern.compile("used (\\d+)K");
    private static final Pattern HISTOGRAM_ROW = Pattern.compile("\\s*\\d+:\\s+(\\d+)\\s+(\\d+)\\s+(\\S+).*");

    private final long pid;
    private final Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");

    MasterHeap(long pid) {
        if (pid < 0) {
            throw new IllegalStateException("the master is not running");
        }
        if (!Files.isExecutable(jcmd)) {
            throw new IllegalStateException("no jcmd in " + jcmd.getParent() + ": run the tests on a JDK");
        }
        this.pid = pid;
    }

    /** Bytes in use right after a full collection. */
    long liveBytes() throws Exception {
        jcmd("GC.run");
        String info = jcmd("GC.heap_info");
        Matcher used = USED.matcher(info);
        if (!used.find()) {
            throw new IllegalStateException("jcmd GC.heap_info did not tell the heap used: " + info);
        }
        return Long.parseLong(used.group(1)) * 1024;
    }

    /** Bytes of live objects per class (the histogram makes its own full collection first). */
    Map<String, Long> histogram() throws Exception {
        Map<String, Long> bytes = new HashMap<>();
        for (String row : jcmd("GC.class_histogram").split("\n")) {
            Matcher m = HISTOGRAM_ROW.matcher(row);
            if (m.matches()) {
                bytes.merge(m.group(3), Long.parseLong(m.group(2)), Long::sum);
            }
        }
        return bytes;
    }

    /** The classes that grew most from {@code before} to {@code after}, one per line, for a failure message. */
    static String grown(Map<String, Long> before, Map<String, Long> after, int top) {
        Set<String> classes = new HashSet<>(before.keySet());
        classes.addAll(after.keySet());
        return classes.stream()
                .map(c -> Map.entry(c, after.getOrDefault(c, 0L) - before.getOrDefault(c, 0L)))
                .sorted(Map.Entry.<String, Long>comparingByValue(Comparator.reverseOrder()))
                .limit(top)
                .map(e -> String.format("%+,12d B  %s", e.getValue(), e.getKey()))
                .collect(Collectors.joining("\n"));
    }

    private String jcmd(String command) throws Exception {
        Process process = new ProcessBuilder(jcmd.toString(), Long.toString(pid), command).redirectErrorStream(true)
                .start();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(60, TimeUnit.SECONDS) || process.exitValue() != 0) {
            throw new IllegalStateException("jcmd " + pid + " " + command + " failed: " + out);
        }
        return out;
    }
}
