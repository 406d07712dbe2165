package io.taskgrid.agent;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

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
     * True if any process that is not a zombie has process group or session {@code pgid}, the group and session a
     * command's shell leads. Every member of such a group was created after its leader, so unless the pid numbers
     * wrapped around since (kernel's last pid below the leader's), only the pids from the leader up need a look: a
     * handful on a quiet machine, rather than every process's stat file.
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
        return fields != null && (fields[2].equals(group) || fields[3].equals(group)) && !fields[0].equals("Z")
                && !fields[0].equals("X");
    }

    /**
     * Every process that is not a zombie and has process group or session {@code id}, read from /proc alone: nothing
     * is forked to find them, so this works when the user's processes are exhausted (a fork bomb). Each handle is
     * taken while the process is known to be a member, and a handle checks the process's start time before it
     * signals, so a pid handed to another process meanwhile is not signalled. Empty without /proc.
     */
    static List<ProcessHandle> membersOf(long id) {
        List<ProcessHandle> members = new ArrayList<>();
        if (!AVAILABLE || id <= 0) {
            return members;
        }
        String wanted = Long.toString(id);
        try (DirectoryStream<Path> processes = Files.newDirectoryStream(PROC)) {
            for (Path process : processes) {
                String name = process.getFileName().toString();
                if (name.isEmpty() || !Character.isDigit(name.charAt(0))) {
                    continue;
                }
                if (runningIn(process, wanted)) {
                    try {
                        ProcessHandle.of(Long.parseLong(name)).ifPresent(members::add);
                    } catch (NumberFormatException e) {
                        // not a process
                    }
                }
            }
        } catch (IOException e) {
            // /proc went away: nothing more to find
        }
        return members;
    }

    /** The pid the kernel handed out last in this pid namespace, or -1 where it does not say. */
    private static long lastPid() {
        try {
            return Long.parseLong(Files.readString(PROC.resolve("sys/kernel/ns_last_pid")).trim());
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }

    /**
     * The fields of /proc/PID/stat after the command name: state, ppid, pgrp, session, ...; null if the process is
     * gone.
     */
    private static String[] statFields(Path process) {
        try {
            // Latin-1: the command name is whatever bytes the process chose, and must not make it unreadable (a name
            // that is no UTF-8 would otherwise hide a process from every look for it).
            String stat = new String(Files.readAllBytes(process.resolve("stat")), StandardCharsets.ISO_8859_1);
            // The command name is in parentheses and may itself hold spaces and parentheses.
            int end = stat.lastIndexOf(')');
            String[] fields = end < 0 ? null : stat.substring(end + 2).split(" ", 5);
            return fields == null || fields.length < 5 ? null : fields;
        } catch (IOException e) {
            return null;
        }
    }
}
