package io.taskgrid.master.task;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;
import java.util.HexFormat;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SecretBoxTest {

    private static final String TASK = "0190c7e4-0000-7000-8000-000000000001";
    private static final String OTHER_TASK = "0190c7e4-0000-7000-8000-000000000002";

    @TempDir
    Path dir;

    @Test
    void aSealedSecretOpensAgainForItsTaskNamesItsKeyAndDoesNotShowItsText() {
        SecretBox box = new SecretBox(dir.resolve("key").toString());
        String id = box.keys().ring().currentId();
        assertThat(id).as("a random id, never one an older file may have used").matches("k[0-9a-f]{8}");
        String sealed = box.seal(TASK, "{\"TOKEN\":\"hunter2\"}");
        assertThat(sealed).startsWith("tg2:" + id + ":").doesNotContain("hunter2");
        assertThat(new String(Base64.getDecoder().decode(sealed.substring(("tg2:" + id + ":").length())),
                StandardCharsets.ISO_8859_1)).doesNotContain("hunter2");
        assertThat(box.open(TASK, sealed)).isEqualTo("{\"TOKEN\":\"hunter2\"}");
        assertThat(box.seal(TASK, "same")).as("a fresh nonce every time").isNotEqualTo(box.seal(TASK, "same"));
        assertThat(SecretBox.keyIdOf(sealed)).contains(id);
    }

    @Test
    void aValueCopiedIntoAnotherTasksRowDoesNotOpenThere() {
        SecretBox box = new SecretBox(dir.resolve("key").toString());
        String sealed = box.seal(TASK, "secret");
        assertThatThrownBy(() -> box.open(OTHER_TASK, sealed)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("sealed for another task");
    }

    @Test
    void theKeyFileIsMadeOnceReadableByItsOwnerOnlyAndReused() throws Exception {
        Path key = dir.resolve("sub/key");
        String sealed = new SecretBox(key.toString()).seal(TASK, "kept");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(key))).isEqualTo("rw-------");
        String id = SecretBox.keyIdOf(sealed).orElseThrow();
        assertThat(Files.readString(key)).contains("current=" + id + "\n" + id + "=");
        assertThat(new SecretBox(key.toString()).open(TASK, sealed)).isEqualTo("kept");
    }

    @Test
    void aKeyFileOthersMayReadOrWriteIsRefused() throws Exception {
        Path key = dir.resolve("key");
        new SecretBox(key.toString());
        Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-r--r--"));
        assertThatThrownBy(() -> new SecretBox(key.toString())).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("is rw-r--r--: other users may read or change it").hasMessageContaining("chmod 600");
    }

    @Test
    void anAlteredOrForeignSealDoesNotOpen() {
        SecretBox box = new SecretBox(dir.resolve("a").toString());
        String sealed = box.seal(TASK, "secret");
        String header = "tg2:" + SecretBox.keyIdOf(sealed).orElseThrow() + ":";
        byte[] bytes = Base64.getDecoder().decode(sealed.substring(header.length()));
        bytes[bytes.length - 1] ^= 1;
        assertThatThrownBy(() -> box.open(TASK, header + Base64.getEncoder().encodeToString(bytes)))
                .isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> new SecretBox(dir.resolve("b").toString()).open(TASK, sealed))
                .isInstanceOf(IllegalStateException.class);
    }

    @Test
    void aNewKeySealsWhatComesAfterItAndOlderValuesStillOpenUntilResealed() throws Exception {
        AtomicLong clock = new AtomicLong();
        Path file = dir.resolve("key");
        SecretBox box = new SecretBox(SecretKeys.loadOrCreate(file, clock::get));
        String first = box.keys().ring().currentId();
        String before = box.seal(TASK, "old secret");

        String second = box.keys().addKey();
        assertThat(second).isNotEqualTo(first);
        assertThat(box.keys().ring().currentId()).isEqualTo(second);
        String after = box.seal(OTHER_TASK, "new secret");
        assertThat(after).startsWith("tg2:" + second + ":");
        assertThat(box.open(TASK, before)).as("the first key still opens what it sealed").isEqualTo("old secret");
        assertThat(box.isUnderCurrentKey(before)).isFalse();

        String moved = box.reseal(TASK, before);
        assertThat(moved).startsWith("tg2:" + second + ":");
        assertThat(box.reseal(TASK, moved)).as("already under the current key: unchanged").isSameAs(moved);

        // The operator removes the first key from the file; the master reads the file again within a second.
        Files.writeString(file, Files.readString(file).replaceAll("(?m)^" + first + "=.*\n", ""));
        clock.addAndGet(2_000_000_000L);
        assertThat(box.keys().ring().all().keySet()).containsExactly(second);
        assertThat(box.open(TASK, moved)).isEqualTo("old secret");
        assertThatThrownBy(() -> box.open(TASK, before)).hasMessageContaining("needs key '" + first
                + "', which is not in the secret key file any more");
    }

    /**
     * Two masters share one key file: one adds a key and seals a task's value under it at once; the other opens the
     * value without waiting for its next look at the file (its clock does not move here), which it reads again when
     * a value names a key it lacks.
     */
    @Test
    void aKeyAnotherMasterAddedToTheSharedFileOpensAtOnce() throws Exception {
        Path file = dir.resolve("shared-key");
        SecretBox here = new SecretBox(SecretKeys.loadOrCreate(file, () -> 0L));
        String first = here.keys().ring().currentId();
        SecretBox other = new SecretBox(SecretKeys.loadOrCreate(file, () -> 0L));
        String added = other.keys().addKey();
        String sealed = other.seal(TASK, "sealed on the other master");
        assertThat(here.keys().ring().currentId()).as("not looked at the file again yet").isEqualTo(first);
        assertThat(here.open(TASK, sealed)).isEqualTo("sealed on the other master");
        assertThat(here.keys().ring().currentId()).isEqualTo(added);
    }

    @Test
    void valuesAndKeyFilesFromBeforeKeyIdsStillWork() throws Exception {
        byte[] raw = new byte[32];
        raw[0] = 7;
        Path file = dir.resolve("key");
        Files.writeString(file, Base64.getEncoder().encodeToString(raw) + "\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        // Sealed as the earlier version did: AES-GCM under the raw key, no associated data, base64 of IV + ciphertext.
        byte[] iv = new byte[12];
        Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
        cipher.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(raw, "AES"), new GCMParameterSpec(128, iv));
        byte[] sealed = cipher.doFinal("legacy".getBytes(StandardCharsets.UTF_8));
        String legacy = Base64.getEncoder().encodeToString(ByteBuffer.allocate(12 + sealed.length).put(iv).put(sealed).array());

        SecretBox box = new SecretBox(file.toString());
        assertThat(box.keys().ring().currentId()).isEqualTo("k1");
        assertThat(box.open(TASK, legacy)).isEqualTo("legacy");
        assertThat(box.reseal(TASK, legacy)).startsWith("tg2:k1:");

        // And a fingerprint stored by the earlier version (HMAC under the raw key) is still recognised.
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(raw, "HmacSHA256"));
        String old = HexFormat.of().formatHex(mac.doFinal("hunter2".getBytes(StandardCharsets.UTF_8)));
        assertThat(box.macsUnderEveryKey("hunter2")).contains(old);
    }

    @Test
    void theKeyedHashDependsOnTheKeyAndTheTextAndIsNotTheEncryptionKey() {
        SecretBox a = new SecretBox(dir.resolve("a").toString());
        assertThat(a.mac("hunter2")).matches("[0-9a-f]{64}")
                .isEqualTo(a.mac("hunter2"))
                .isNotEqualTo(a.mac("hunter3"))
                .isNotEqualTo(new SecretBox(dir.resolve("b").toString()).mac("hunter2"));
        byte[] root = a.keys().ring().all().get(a.keys().ring().currentId());
        byte[] sealKey = SecretBox.derive(root, "taskgrid secretEnv AES-256-GCM v2".getBytes(StandardCharsets.UTF_8));
        byte[] hashKey = SecretBox.derive(root, "taskgrid request fingerprint HMAC-SHA256 v2".getBytes(StandardCharsets.UTF_8));
        assertThat(sealKey).hasSize(32).isNotEqualTo(hashKey).isNotEqualTo(root);
    }

    @Test
    void aMalformedKeyFileIsRefusedWithWhatIsWrong() throws Exception {
        Path file = dir.resolve("key");
        Files.writeString(file, "current=k9\nk1=" + Base64.getEncoder().encodeToString(new byte[32]) + "\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        assertThatThrownBy(() -> new SecretBox(file.toString())).hasMessageContaining("the current key 'k9' is not in the file");
        Files.writeString(file, "current=k1\nk1=" + Base64.getEncoder().encodeToString(new byte[16]) + "\n");
        assertThatThrownBy(() -> new SecretBox(file.toString())).hasMessageContaining("is 16 bytes, not 32");
    }

    /** A key file that is a link (to a mounted key store, say) stays a link; the keys go where it leads. */
    @Test
    void aLinkedKeyFileIsWrittenWhereItLeadsAndStaysALink() throws Exception {
        Path store = Files.createDirectory(dir.resolve("store"));
        Path target = store.resolve("keys");
        new SecretBox(target.toString());
        Path link = Files.createSymbolicLink(dir.resolve("taskgrid-secret.key"), target);
        SecretBox box = new SecretBox(link.toString());
        String added = box.keys().addKey();
        assertThat(Files.isSymbolicLink(link)).isTrue();
        assertThat(Files.readString(target)).contains("current=" + added + "\n");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(target))).isEqualTo("rw-------");
        assertThat(store.resolve("keys.new")).doesNotExist();
    }
}
