package io.taskgrid.master.task;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SecretBoxTest {

    @TempDir
    Path dir;

    @Test
    void aSealedSecretOpensAgainAndDoesNotShowItsText() {
        SecretBox box = new SecretBox(dir.resolve("key").toString());
        String sealed = box.seal("{\"TOKEN\":\"hunter2\"}");
        assertThat(sealed).doesNotContain("hunter2");
        assertThat(new String(Base64.getDecoder().decode(sealed), StandardCharsets.ISO_8859_1)).doesNotContain("hunter2");
        assertThat(box.open(sealed)).isEqualTo("{\"TOKEN\":\"hunter2\"}");
        assertThat(box.seal("same")).as("a fresh nonce every time").isNotEqualTo(box.seal("same"));
    }

    @Test
    void theKeyFileIsMadeOnceReadableByItsOwnerOnlyAndReused() throws Exception {
        Path key = dir.resolve("sub/key");
        String sealed = new SecretBox(key.toString()).seal("kept");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(key))).isEqualTo("rw-------");
        assertThat(new SecretBox(key.toString()).open(sealed)).isEqualTo("kept");
    }

    @Test
    void anAlteredOrForeignSealDoesNotOpen() {
        SecretBox box = new SecretBox(dir.resolve("a").toString());
        String sealed = box.seal("secret");
        byte[] bytes = Base64.getDecoder().decode(sealed);
        bytes[bytes.length - 1] ^= 1;
        assertThatThrownBy(() -> box.open(Base64.getEncoder().encodeToString(bytes))).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> new SecretBox(dir.resolve("b").toString()).open(sealed)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void theKeyedHashDependsOnTheKeyAndTheText() {
        SecretBox a = new SecretBox(dir.resolve("a").toString());
        assertThat(a.mac("hunter2")).matches("[0-9a-f]{64}")
                .isEqualTo(a.mac("hunter2"))
                .isNotEqualTo(a.mac("hunter3"))
                .isNotEqualTo(new SecretBox(dir.resolve("b").toString()).mac("hunter2"));
    }
}
