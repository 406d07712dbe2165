package io.taskgrid.it.cluster;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.assertj.core.api.Assertions.assertThat;

/** The quick start's config file for the command line: written private, kept up to date, a person's own untouched. */
class CliConfigTest {

    @TempDir
    Path home;

    @Test
    void writtenForOnlyItsOwnerAndRewrittenWithANewToken() throws Exception {
        Path file = home.resolve(".config/taskgrid/config");
        assertThat(CliConfig.handOff(file, "http://localhost:9092", "tg_one")).contains(file.toString());
        assertThat(Files.readAllLines(file)).containsExactly(CliConfig.MARK, "url=http://localhost:9092",
                "token=tg_one");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");

        CliConfig.handOff(file, "http://localhost:9092", "tg_two");
        assertThat(Files.readAllLines(file)).contains("token=tg_two").doesNotContain("token=tg_one");
    }

    @Test
    void aPersonsOwnConfigIsKept() throws Exception {
        Path file = Files.createDirectories(home.resolve("taskgrid")).resolve("config");
        Files.writeString(file, "url=https://grid.example.com\ntoken=tg_mine\n");
        assertThat(CliConfig.handOff(file, "http://localhost:9092", "tg_quick")).contains("is kept")
                .contains("TASKGRID_URL=http://localhost:9092");
        assertThat(Files.readString(file)).isEqualTo("url=https://grid.example.com\ntoken=tg_mine\n");
    }
}
