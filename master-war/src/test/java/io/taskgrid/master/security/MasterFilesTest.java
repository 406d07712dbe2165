package io.taskgrid.master.security;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class MasterFilesTest {

    @TempDir
    Path dir;

    @Test
    void aMissingHomeIsMadeForTheMastersUserAlone() throws Exception {
        Path home = dir.resolve("a/b/home");
        MasterFiles.secureDirectoriesOf(List.of(home.resolve("taskgrid-tokens.properties")));
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(home))).isEqualTo("rwx------");
    }

    @Test
    void aHomeOthersMayEnterIsClosedBeforeAnythingIsReadFromIt() throws Exception {
        // Liberty's server directory is rwxr-xr-x by default: any local user (a task run as one) could read the
        // database, the key and the logs that held the first-start tokens.
        Path home = Files.createDirectory(dir.resolve("server"));
        Files.setPosixFilePermissions(home, PosixFilePermissions.fromString("rwxr-xr-x"));
        MasterFiles.secureDirectoriesOf(List.of(home.resolve("taskgrid-tokens.properties"),
                home.resolve("taskgrid-secret.key")));
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(home))).isEqualTo("rwx------");
    }

    @Test
    void aHomeOthersMayWriteIntoIsClosedWhenItIsTheMasters() throws Exception {
        Path home = Files.createDirectory(dir.resolve("open"));
        Files.setPosixFilePermissions(home, PosixFilePermissions.fromString("rwxrwxrwx"));
        MasterFiles.secureDirectoriesOf(List.of(home.resolve("taskgrid-secret.key")));
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(home))).isEqualTo("rwx------");
    }

    @Test
    void aDirectoryOfAnotherUserThatOthersMayWriteIntoStopsTheStartNamingIt() throws Exception {
        // Not the master's, and anyone may write into it: a tokens file there can be replaced by anyone.
        Path shared;
        if (isRoot()) {
            shared = Files.createDirectory(dir.resolve("shared"));
            Files.setOwner(shared, shared.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("nobody"));
            Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
        } else {
            shared = Path.of("/var/tmp");
        }
        Path open = shared;
        assertThatThrownBy(() -> MasterFiles.secureDirectoriesOf(List.of(open.resolve("taskgrid-tokens.properties"))))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining(open.toString())
                .hasMessageContaining("others may replace");
        assertThat(Files.exists(open.resolve("taskgrid-tokens.properties"))).isFalse();
    }

    private static boolean isRoot() throws Exception {
        return ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue() == 0;
    }

    @Test
    void aFileWhereTheHomeShouldBeStopsTheStart() throws Exception {
        Path notADirectory = Files.createFile(dir.resolve("home"));
        assertThatThrownBy(() -> MasterFiles.secureDirectoriesOf(List.of(notADirectory.resolve("taskgrid-secret.key"))))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("not a directory");
    }
}
