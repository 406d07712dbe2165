package io.taskgrid.master.task;

import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

class NewTaskTest {

    @Test
    void theFingerprintIgnoresTheOrderOfEnvironmentEntries() {
        Map<String, String> ab = new LinkedHashMap<>();
        ab.put("A", "1");
        ab.put("B", "2");
        Map<String, String> ba = new LinkedHashMap<>();
        ba.put("B", "2");
        ba.put("A", "1");
        assertThat(new NewTask("x", ab, null, null, null, null, null, null, null).fingerprint()).isEqualTo(new NewTask("x", ba, null, null, null, null, null, null, null).fingerprint());
    }

    @Test
    void everyFieldChangesTheFingerprint() {
        String base = new NewTask("echo", Map.of("A", "1"), "/tmp", 5L, 3, 0, null, null, null).fingerprint();
        assertThat(new NewTask("echo ", Map.of("A", "1"), "/tmp", 5L, 3, 0, null, null, null).fingerprint()).isNotEqualTo(base);
        assertThat(new NewTask("echo", Map.of("A", "2"), "/tmp", 5L, 3, 0, null, null, null).fingerprint()).isNotEqualTo(base);
        assertThat(new NewTask("echo", Map.of("A", "1"), "/", 5L, 3, 0, null, null, null).fingerprint()).isNotEqualTo(base);
        assertThat(new NewTask("echo", Map.of("A", "1"), "/tmp", 6L, 3, 0, null, null, null).fingerprint()).isNotEqualTo(base);
        assertThat(new NewTask("echo", Map.of("A", "1"), "/tmp", 5L, 2, 0, null, null, null).fingerprint()).isNotEqualTo(base);
        assertThat(new NewTask("echo", Map.of("A", "1"), "/tmp", 5L, 3, 1, null, null, null).fingerprint()).isNotEqualTo(base);
    }

    @Test
    void fieldsCannotBleedIntoEachOther() {
        // Without lengths, "ab" + "c" and "a" + "bc" would hash alike.
        assertThat(new NewTask("x", Map.of("AB", "c"), null, null, null, null, null, null, null).fingerprint())
                .isNotEqualTo(new NewTask("x", Map.of("A", "Bc"), null, null, null, null, null, null, null).fingerprint());
    }

    @Test
    void withSecretsTheFingerprintStillFitsItsColumnAndDependsOnThem() {
        java.util.function.Function<String, String> mac = text -> "k" + Integer.toHexString(text.hashCode());
        NewTask withSecret = new NewTask("x", Map.of(), null, null, null, null, Map.of("TOKEN", "a"), null, null);
        String print = withSecret.fingerprint(mac);
        assertThat(print).hasSize(64).matches("[0-9a-f]{64}");
        assertThat(new NewTask("x", Map.of(), null, null, null, null, Map.of("TOKEN", "b"), null, null).fingerprint(mac))
                .isNotEqualTo(print);
        assertThat(new NewTask("x", Map.of(), null, null, null, null, null, null, null).fingerprint(mac)).isNotEqualTo(print).hasSize(64);
    }
}
