package io.taskgrid.agent;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

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

    /**
     * The running members of each of {@code ids} (process group or session), from one listing of /proc: what
     * {@link #membersOf} finds for one id, for many at the cost of one. Ids without members are absent.
     */
    static Map<Long, List<ProcessHandle>> membersOfAny(Set<Long> ids) {
        Map<Long, List<ProcessHandle>> members = new HashMap<>();
        if (!AVAILABLE || ids.isEmpty()) {
            return members;
        }
        String[] names = PROC.toFile().list();
        if (names == null) {
            return members;
        }
        // Read as bytes into one buffer and parsed in place: this look is taken for every process of the machine,
        // several times a second while commands end, and Files.readAllBytes + split cost more than the reads.
        byte[] buffer = new byte[1024];
        long[] ours = new long[4];
        for (String name : names) {
            if (name.isEmpty() || name.charAt(0) < '0' || name.charAt(0) > '9') {
                continue;
            }
            if (!readStat(name, buffer, ours)) {
                continue;
            }
            long id = ids.contains(ours[3]) ? ours[3] : ids.contains(ours[2]) ? ours[2] : -1;
            if (id > 0) {
                try {
                    long key = id;
                    ProcessHandle.of(Long.parseLong(name))
                            .ifPresent(h -> members.computeIfAbsent(key, k -> new ArrayList<>()).add(h));
                } catch (NumberFormatException e) {
                    // not a process
                }
            }
        }
        return members;
    }

    /**
     * Reads /proc/NAME/stat into {@code buffer} and puts state (as a char), ppid, pgrp and session into
     * {@code fields}; false when the process is gone, is a zombie, or the file cannot be parsed.
     */
    private static boolean readStat(String name, byte[] buffer, long[] fields) {
        int length = 0;
        try (java.io.FileInputStream in = new java.io.FileInputStream("/proc/" + name + "/stat")) {
            int n;
            while (length < buffer.length && (n = in.read(buffer, length, buffer.length - length)) > 0) {
                length += n;
            }
        } catch (IOException e) {
            return false;
        }
        int at = length - 1;
        while (at >= 0 && buffer[at] != ')') {
            at--;
        }
        at += 2; // past ") "
        if (at <= 1 || at >= length) {
            return false;
        }
        fields[0] = buffer[at];
        if (fields[0] == 'Z' || fields[0] == 'X') {
            return false;
        }
        at += 2;
        for (int field = 1; field <= 3; field++) {
            long value = 0;
            boolean negative = at < length && buffer[at] == '-';
            if (negative) {
                at++;
            }
            int start = at;
            while (at < length && buffer[at] >= '0' && buffer[at] <= '9') {
                value = value * 10 + (buffer[at] - '0');
                at++;
            }
            if (at == start || at >= length) {
                return false;
            }
            fields[field] = negative ? -value : value;
            at++; // the space
        }
        return true;
    }

    /** Whether process {@code pid} runs and leads a session of its own (its session id is its pid). */
    static boolean leadsSession(long pid) {
        String[] fields = statFields(PROC.resolve(Long.toString(pid)));
        return fields != null && !fields[0].equals("Z") && !fields[0].equals("X")
                && fields[3].equals(Long.toString(pid));
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
