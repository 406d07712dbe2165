package io.taskgrid.agent;

import io.taskgrid.proto.v1.StatusReport;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Finished results the master has not acknowledged yet, one file per attempt in the agent's state directory. A result
 * is written here before it is first sent and removed once the master has it, so neither a master outage nor an agent
 * restart loses it: the agent sends whatever is here each time it connects.
 *
 * <p>Results hold other tasks' output, so the directory is the agent user's alone (0700, files 0600), and a directory
 * that belongs to someone else is refused: whoever owns it could read, forge or delete results.
 */
final class Outbox {

    private static final String SUFFIX = ".report";

    private final Path dir;

    private static final Set<PosixFilePermission> OWNER_ONLY_DIR = PosixFilePermissions.fromString("rwx------");
    private static final Set<PosixFilePermission> OWNER_ONLY_FILE = PosixFilePermissions.fromString("rw-------");

    Outbox(Path dir) {
        this.dir = dir;
        try {
            prepare(dir);
        } catch (IOException e) {
            throw new UnusableStateDirectory("cannot create or inspect the state directory " + dir + ": "
                    + e.getMessage());
        }
    }

    private static void prepare(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            Path parent = dir.toAbsolutePath().getParent();
            if (parent != null && !Files.exists(parent)) {
                Files.createDirectories(parent, PosixFilePermissions.asFileAttribute(OWNER_ONLY_DIR));
            }
            try {
                Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(OWNER_ONLY_DIR));
            } catch (FileAlreadyExistsException raced) {
                // checked below like any existing directory
            }
        }
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            throw new UnusableStateDirectory("the state directory " + dir + " is not a directory (a symbolic link is "
                    + "not accepted either)");
        }
        long owner = ((Number) Files.getAttribute(dir, "unix:uid", LinkOption.NOFOLLOW_LINKS)).longValue();
        long self = ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue();
        if (owner != self) {
            throw new UnusableStateDirectory("the state directory " + dir + " belongs to uid " + owner + ", not to the "
                    + "user this agent runs as (uid " + self + "): whoever owns it could read or change the results "
                    + "kept there; use a directory of this user's own (--state-dir)");
        }
        checkParents(dir, self);
        Set<PosixFilePermission> permissions = Files.getPosixFilePermissions(dir, LinkOption.NOFOLLOW_LINKS);
        if (!permissions.equals(OWNER_ONLY_DIR)) {
            Files.setPosixFilePermissions(dir, OWNER_ONLY_DIR);
            Log.warn("the state directory " + dir + " was " + PosixFilePermissions.toString(permissions)
                    + "; made it rwx------ (results hold other tasks' output)");
        }
    }

    /**
     * Every directory above the state directory must be changeable by root and this user only (or be sticky, as /tmp
     * is): whoever else could rename an entry there could swap the state directory for one of their own while the
     * agent runs, and read or forge the results it writes.
     */
    static void checkParents(Path dir, long self) throws IOException {
        for (Path parent = dir.toAbsolutePath().normalize().getParent(); parent != null; parent = parent.getParent()) {
            long owner = ((Number) Files.getAttribute(parent, "unix:uid")).longValue();
            int mode = (Integer) Files.getAttribute(parent, "unix:mode");
            boolean sticky = (mode & 01000) != 0;
            boolean othersWrite = (mode & 0022) != 0;
            if ((owner != 0 && owner != self) || (othersWrite && !sticky)) {
                throw new UnusableStateDirectory("a directory above the state directory " + dir + ", " + parent
                        + ", can be changed by " + (owner != 0 && owner != self ? "uid " + owner + ", its owner"
                        : "other users (mode " + Integer.toOctalString(mode & 07777) + ", not sticky)")
                        + ": they could swap the state directory while the agent runs; use a --state-dir whose parents "
                        + "only root and this user can change");
            }
        }
    }

    Path dir() {
        return dir;
    }

    /** Stores the report durably (written aside, then renamed into place). */
    void save(StatusReport report) {
        Path target = file(report.getAttemptId());
        Path temp = dir.resolve(report.getAttemptId() + ".tmp");
        try {
            Files.deleteIfExists(temp);
            Files.write(Files.createFile(temp, PosixFilePermissions.asFileAttribute(OWNER_ONLY_FILE)),
                    report.toByteArray());
            try {
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            Log.error("could not store the result of task " + report.getTaskId() + " in " + dir + ": " + e.getMessage());
        }
    }

    void remove(StatusReport report) {
        try {
            Files.deleteIfExists(file(report.getAttemptId()));
        } catch (IOException e) {
            Log.warn("could not remove " + file(report.getAttemptId()) + ": " + e.getMessage());
        }
    }

    /** Every stored report, oldest attempt first; unreadable files are skipped with a warning. */
    List<StatusReport> pending() {
        List<StatusReport> reports = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*" + SUFFIX)) {
            for (Path file : files) {
                try {
                    reports.add(StatusReport.parseFrom(Files.readAllBytes(file)));
                } catch (IOException e) {
                    Log.warn("skipping unreadable result file " + file + ": " + e.getMessage());
                }
            }
        } catch (IOException e) {
            Log.warn("could not list " + dir + ": " + e.getMessage());
        }
        reports.sort((a, b) -> a.getAttemptId().compareTo(b.getAttemptId()));
        return reports;
    }

    private Path file(String attemptId) {
        if (!attemptId.matches("[A-Za-z0-9-]{1,64}")) {
            throw new IllegalArgumentException("unexpected attempt id " + attemptId);
        }
        return dir.resolve(attemptId + SUFFIX);
    }
}
