package io.taskgrid.it.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * What Linux counts for a process: CPU time (its own and that of the children it has waited for, so the commands an
 * agent ran count as the agent's), resident memory and run state. The figures of the benchmark come from these
 * counters, not from the processes' own reports; the tests ask the same counters whether a process is gone.
 */
public final class ProcStat {

    /** Clock ticks per second of the counters in /proc/PID/stat (USER_HZ; 100 on every Linux that matters). */
    private static final double TICKS_PER_SECOND = 100.0;

    private ProcStat() {
    }

    /** CPU seconds of {@code pid}: user + system, own + waited-for children. */
    static double cpuSeconds(long pid) {
        Optional<String[]> fields = statFields(pid);
        if (fields.isEmpty()) {
            return Double.NaN;
        }
        String[] f = fields.get();
        try {
            // after the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
            long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]) + Long.parseLong(f[13]) + Long.parseLong(f[14]);
            return ticks / TICKS_PER_SECOND;
        } catch (RuntimeException e) {
            return Double.NaN;
        }
    }

    /**
     * CPU seconds of {@code pid} itself: user + system of its own threads, without the children it waited for, so that
     * an agent's figure is what the agent costs beside the commands it runs.
     */
    static double ownCpuSeconds(long pid) {
        Optional<String[]> fields = statFields(pid);
        if (fields.isEmpty()) {
            return Double.NaN;
        }
        try {
            return (Long.parseLong(fields.get()[11]) + Long.parseLong(fields.get()[12])) / TICKS_PER_SECOND;
        } catch (RuntimeException e) {
            return Double.NaN;
        }
    }

    /**
     * The state letter of {@code pid} (R, S, D, Z, X, ...), or empty once the process has no entry any more. A process
     * that exits between two looks reads as gone, not as an error, so callers can poll this.
     */
    public static Optional<Character> state(long pid) {
        return statFields(pid).filter(f -> !f[0].isEmpty()).map(f -> f[0].charAt(0));
    }

    /** Resident set size of {@code pid} in MiB. */
    static double rssMib(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
                }
            }
        } catch (IOException | RuntimeException e) {
            // gone
        }
        return Double.NaN;
    }

    /**
     * The fields of /proc/PID/stat after the command name. The name is in parentheses and may itself hold spaces and
     * parentheses, so the fields start after the last ')'.
     */
    private static Optional<String[]> statFields(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            int nameEnd = stat.lastIndexOf(')');
            if (nameEnd < 0 || nameEnd + 2 > stat.length()) {
                return Optional.empty();
            }
            return Optional.of(stat.substring(nameEnd + 2).split(" "));
        } catch (IOException e) {
            return Optional.empty();
        }
    }
}
