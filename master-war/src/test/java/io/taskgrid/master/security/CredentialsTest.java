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
}
