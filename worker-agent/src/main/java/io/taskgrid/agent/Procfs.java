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

    /** True if any process that is not a zombie has process group {@code pgid}. */
    static boolean anyRunningInGroup(long pgid) {
        String group = Long.toString(pgid);
        try (DirectoryStream<Path> processes = Files.newDirectoryStream(PROC, "[0-9]*")) {
            for (Path process : processes) {
                String[] fields = statFields(process);
                if (fields != null && fields[2].equals(group) && !fields[0].equals("Z") && !fields[0].equals("X")) {
                    return true;
                }
            }
        } catch (IOException e) {
            return false;
        }
        return false;
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
