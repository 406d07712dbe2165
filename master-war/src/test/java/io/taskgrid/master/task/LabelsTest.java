package io.taskgrid.master.task;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LabelsTest {

    @Test
    void aWorkerMeetsARequirementWhenItCarriesEveryLabelWithTheSameValue() {
        Labels required = Labels.of(Map.of("os", "linux", "gpu", "a100"));
        assertThat(required.satisfiedBy(Labels.of(Map.of("os", "linux", "gpu", "a100", "zone", "eu")))).isTrue();
        assertThat(required.satisfiedBy(Labels.of(Map.of("os", "linux")))).isFalse();
        assertThat(required.satisfiedBy(Labels.of(Map.of("os", "linux", "gpu", "h100")))).isFalse();
        assertThat(required.missingFrom(Labels.of(Map.of("os", "linux")))).contains("gpu=a100");
        assertThat(Labels.NONE.satisfiedBy(Labels.NONE)).isTrue();
        assertThat(Labels.NONE.satisfiedBy(required)).isTrue();
        assertThat(required.satisfiedBy(Labels.NONE)).isFalse();
    }

    @Test
    void theCanonicalFormSortsKeysAndReadsBackEqual() {
        Labels labels = Labels.of(Map.of("zone", "eu-1", "os", "linux", "arch", "amd64"));
        assertThat(labels.canonical()).isEqualTo("arch=amd64,os=linux,zone=eu-1");
        assertThat(Labels.parse(labels.canonical())).isEqualTo(labels).hasSameHashCodeAs(labels);
        assertThat(Labels.parse(null)).isSameAs(Labels.NONE);
        assertThat(Labels.parse("")).isSameAs(Labels.NONE);
        assertThat(Labels.of(Map.of())).isSameAs(Labels.NONE);
    }

    @Test
    void theLongestLabelsFitTheColumn() {
        Map<String, String> most = new HashMap<>();
        for (int i = 0; i < Labels.MAX_LABELS; i++) {
            most.put(String.format("%02d", i) + "k".repeat(Labels.MAX_LENGTH - 2), "v".repeat(Labels.MAX_LENGTH));
        }
        assertThat(Labels.of(most).canonical().length()).isLessThanOrEqualTo(Labels.MAX_CANONICAL_LENGTH);
    }

    @Test
    void badKeysAndValuesAreRefusedWithTheRule() {
        assertThatThrownBy(() -> Labels.of(Map.of("os", ""))).hasMessageContaining("is empty");
        assertThatThrownBy(() -> Labels.of(Map.of("o s", "x"))).hasMessageContaining("may hold only letters");
        assertThatThrownBy(() -> Labels.of(Map.of("os", "a,b"))).hasMessageContaining("may hold only letters");
        assertThatThrownBy(() -> Labels.of(Map.of("os", "a=b"))).hasMessageContaining("may hold only letters");
        assertThatThrownBy(() -> Labels.of(Map.of(".os", "x"))).hasMessageContaining("starting with a letter");
        assertThatThrownBy(() -> Labels.of(Map.of("os", "x".repeat(64)))).hasMessageContaining("at most 63");
        assertThatThrownBy(() -> Labels.of(Map.of("é", "x"))).hasMessageContaining("may hold only letters");
        Map<String, String> many = new HashMap<>();
        for (int i = 0; i <= Labels.MAX_LABELS; i++) {
            many.put("k" + i, "v");
        }
        assertThatThrownBy(() -> Labels.of(many)).hasMessageContaining("at most 16");
    }
}
