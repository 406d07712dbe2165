package io.taskgrid.master.security;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class CredentialsTest {

    @TempDir
    Path dir;

    private static String value(List<String> lines, String key) {
        return lines.stream().filter(l -> l.startsWith(key + "=")).findFirst().orElseThrow().substring(key.length() + 1);
    }

    @Test
    void theFirstStartMakesTokensKeepsOnlyTheirHashesAndHandsThemOverOnce() throws Exception {
        Path tokensFile = dir.resolve("out/taskgrid-tokens.properties");
        Credentials credentials = new Credentials(true, tokensFile.toString(), "localhost", 9092, 50051, null);
        credentials.initialize();

        Path initial = tokensFile.resolveSibling(Credentials.INITIAL_FILE);
        List<String> lines = Files.readAllLines(initial);
        String operator = value(lines, "operator-token");
        String join = value(lines, "join-token");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(initial))).isEqualTo("rw-------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(tokensFile))).isEqualTo("rw-------");
        assertThat(Files.readString(tokensFile)).doesNotContain(operator).doesNotContain(join);
        assertThat(credentials.apiCaller(operator)).contains(new TokenFile.Caller("operator", Role.OPERATOR));
        assertThat(credentials.joinTokenName(join)).isPresent();
        assertThat(operator).isNotEqualTo(join).hasSizeGreaterThan(40);

        // A second start keeps what exists.
        String before = Files.readString(tokensFile);
        new Credentials(true, tokensFile.toString(), "localhost", 9092, 50051, null).initialize();
        assertThat(Files.readString(tokensFile)).isEqualTo(before);
    }

    @Test
    void withAuthenticationOffNothingIsMade() {
        Path tokensFile = dir.resolve("tokens");
        new Credentials(false, tokensFile.toString(), "localhost", 9092, 50051, null).initialize();
        assertThat(tokensFile).doesNotExist();
    }

    @Test
    void aTokensFileTheMasterCannotReadOrOthersMayChangeStopsTheStart() throws Exception {
        Path directory = Files.createDirectory(dir.resolve("tokens-dir"));
        assertThatThrownBy(() -> new Credentials(true, directory.toString(), "localhost", 9092, 50051, null).initialize())
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("is not a file the master can read");
        Path shared = dir.resolve("shared-tokens.properties");
        Files.writeString(shared, "# hashes\n");
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rw-rw-r--"));
        assertThatThrownBy(() -> new Credentials(true, shared.toString(), "localhost", 9092, 50051, null).initialize())
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("other users may change it");
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rw-r--r--"));
        new Credentials(true, shared.toString(), "localhost", 9092, 50051, null).initialize();
    }

    /** As a service: the tokens go to the owner-only file, never to the log that a journal keeps for many to read. */
    @Test
    void withPrintingOffTheLogNamesTheFileButHoldsNoToken() throws Exception {
        List<String> logged = new java.util.ArrayList<>();
        java.util.logging.Handler handler = new java.util.logging.Handler() {
            @Override
            public void publish(java.util.logging.LogRecord record) {
                logged.add(record.getMessage());
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        java.util.logging.Logger log = java.util.logging.Logger.getLogger(Credentials.class.getName());
        log.addHandler(handler);
        try {
            Path quiet = dir.resolve("quiet/taskgrid-tokens.properties");
            new Credentials(true, quiet.toString(), "localhost", 9092, 50051, null).printingTokens(false).initialize();
            List<String> made = Files.readAllLines(quiet.resolveSibling(Credentials.INITIAL_FILE));
            assertThat(String.join("\n", logged)).contains(Credentials.INITIAL_FILE)
                    .doesNotContain(value(made, "operator-token")).doesNotContain(value(made, "join-token"));

            logged.clear();
            Path loud = dir.resolve("loud/taskgrid-tokens.properties");
            new Credentials(true, loud.toString(), "localhost", 9092, 50051, null).initialize();
            assertThat(String.join("\n", logged)).as("the quick start's way, by default")
                    .contains(value(Files.readAllLines(loud.resolveSibling(Credentials.INITIAL_FILE)), "operator-token"));
        } finally {
            log.removeHandler(handler);
        }
    }
}
