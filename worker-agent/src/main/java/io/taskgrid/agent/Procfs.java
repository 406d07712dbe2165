package io.taskgrid.agent;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** Process states from Linux's /proc, which tell a running process from a zombie (kill -0 does not). */
final class Procfs {

    private static final Path PROC = Path.of("/proc");
    private static final boolean AVAILABLE = Files.isReadable(PROC.resolve("self/stat"));

    private Procfs() {
    }

    static boolean available() {
        return AVAILABLE;
    }

    /** True if the process exists and is not a zombie. */
    static boolean isRunning(long pid) {
        String[] fields = statFields(PROC.resolve(Long.toString(pid)));
        return fields != null && !fields[0].equals("Z") && !fields[0].equals("X");
    }

    /**
     * True if any process that is not a zombie has process group {@code pgid}, the group a command's shell leads.
     * Every member of such a group was created after its leader, so unless the pid numbers wrapped around since
     * (kernel's last pid below the leader's), only the pids from the leader up need a look: a handful on a quiet
     * machine, rather than every process's stat file.
     */
    static boolean anyRunningInGroup(long pgid) {
        String group = Long.toString(pgid);
        // Usually only a few pids have been handed out since the leader's: look at exactly those, and again at any
        // handed out meanwhile, rather than list /proc.
        long from = pgid;
        for (int round = 0; round < 8; round++) {
            long last = lastPid();
            if (last < from || last - from > 1024) {
                return anyRunningInGroupListed(group, pgid);
            }
            for (long pid = from; pid <= last; pid++) {
                if (runningIn(PROC.resolve(Long.toString(pid)), group)) {
                    return true;
                }
            }
            if (lastPid() == last) {
                return false;
            }
            from = last + 1;
        }
        return anyRunningInGroupListed(group, pgid);
    }

    /** The same by listing every process: when pids wrapped around, or very many were handed out since. */
    private static boolean anyRunningInGroupListed(String group, long pgid) {
        long lastPid = lastPid();
        boolean wrapped = lastPid < 0 || lastPid < pgid;
        try (DirectoryStream<Path> processes = Files.newDirectoryStream(PROC)) {
            for (Path process : processes) {
                String name = process.getFileName().toString();
                if (name.isEmpty() || !Character.isDigit(name.charAt(0))) {
                    continue;
                }
                if (!wrapped && Long.parseLong(name) < pgid) {
                    continue;
                }
                if (runningIn(process, group)) {
                    return true;
                }
            }
        } catch (IOException | NumberFormatException e) {
            return false;
        }
        return false;
    }

    private static boolean runningIn(Path process, String group) {
        String[] fields = statFields(process);
        return fields != null && fields[2].equals(group) && !fields[0].equals("Z") && !fields[0].equals("X");
    }

    /** The pid the kernel handed out last in this pid namespace, or -1 where it does not say. */
    private static long lastPid() {
        try {
            return Long.parseLong(Files.readString(PROC.resolve("sys/kernel/ns_last_pid")).trim());
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }

    /** The fields of /proc/PID/stat after the command name: state, ppid, pgrp, ...; null if the process is gone. */
    private static String[] statFields(Path process) {
        try {
            String stat = Files.readString(process.resolve("stat"));
            // The command name is in parentheses and may itself hold spaces and parentheses.
            int end = stat.lastIndexOf(')');
            return end < 0 ? null : stat.substring(end + 2).split(" ", 4);
        } catch (IOException e) {
            return null;
        }
    }
}
