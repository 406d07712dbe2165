package io.taskgrid.agent;

import io.taskgrid.proto.v1.StatusReport;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Finished results the master has not acknowledged yet, one file per attempt in the agent's state directory. A result
 * is written here before it is first sent and removed once the master has it, so neither a master outage nor an agent
 * restart loses it: the agent sends whatever is here each time it connects.
 */
final class Outbox {

    private static final String SUFFIX = ".report";

    private final Path dir;

    Outbox(Path dir) {
        this.dir = dir;
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the state directory " + dir + ": " + e.getMessage(), e);
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
            Files.write(temp, report.toByteArray());
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
