package io.taskgrid.it.cluster;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

/**
 * The quick start's hand-off to the {@code taskgrid} command line: the master's URL and operator token in the
 * command's config file ({@code ~/.config/taskgrid/config}, mode 600), so that {@code taskgrid run ...} in another
 * terminal works with nothing to set. A config file a person wrote is never touched; one the quick start wrote is
 * brought up to date (the token changes when the build's server is made anew).
 */
public final class CliConfig {

    static final String MARK = "# written by Taskgrid's quick start (./mvnw -Pstart); it rewrites this file. "
            + "Remove this line to keep your own.";

    private CliConfig() {
    }

    /** The config file the command line reads. */
    public static Path file() {
        String xdg = System.getenv("XDG_CONFIG_HOME");
        return (xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".config"))
                .resolve("taskgrid/config");
    }

    /** Writes {@code file} for this master unless a person's own is there; what a person should know, one line. */
    public static String handOff(Path file, String url, String token) {
        try {
            if (Files.exists(file) && !Files.readString(file).startsWith(MARK)) {
                return "your own " + file + " is kept: give the command this master with TASKGRID_URL=" + url
                        + " and the token above in TASKGRID_TOKEN";
            }
            Files.createDirectories(file.getParent());
            Path temporary = file.resolveSibling(".config.tmp");
            Files.deleteIfExists(temporary);
            Files.createFile(temporary, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            Files.write(temporary, List.of(MARK, "url=" + url, token == null ? "# no token: authentication is off"
                    : "token=" + token));
            Files.move(temporary, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            return "it finds this master and its token in " + file + " (mode 600)";
        } catch (IOException | UnsupportedOperationException e) {
            return "could not write " + file + " (" + e.getMessage() + "): set TASKGRID_URL=" + url
                    + " and TASKGRID_TOKEN to the token above";
        }
    }
}
