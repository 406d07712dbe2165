package io.taskgrid.it.cluster;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The tokens a master makes at its first start, read from the owner-only file it leaves in its output directory.
 *
 * @param operatorToken the operator API token
 * @param joinToken     the agent join token
 */
public record InitialCredentials(String operatorToken, String joinToken) {

    public static final String FILE = "taskgrid-initial-credentials.txt";

    /** Reads {@code serverOutputDir}/taskgrid-initial-credentials.txt. */
    public static InitialCredentials read(Path serverOutputDir) {
        Path file = serverOutputDir.resolve(FILE);
        String operator = null;
        String join = null;
        try {
            for (String line : Files.readAllLines(file)) {
                if (line.startsWith("operator-token=")) {
                    operator = line.substring("operator-token=".length()).trim();
                } else if (line.startsWith("join-token=")) {
                    join = line.substring("join-token=".length()).trim();
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("the master left no credentials in " + file, e);
        }
        return new InitialCredentials(operator, join);
    }
}
