package io.taskgrid.master.task;

import io.taskgrid.proto.WorkerLimits;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
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

    /**
     * An agent checks its --label flags by {@link WorkerLimits} and a task's requirement is matched against them: the
     * master must draw the line exactly there, for keys and values alike.
     */
    @Test
    void theRulesAreTheOnesAgentsCheckTheirLabelsBy() {
        Map<String, String> most = new HashMap<>();
        for (int i = 0; i < WorkerLimits.MAX_LABELS; i++) {
            most.put("k" + i, "v".repeat(WorkerLimits.MAX_LABEL_LENGTH));
        }
        assertThat(Labels.of(most).asMap()).hasSize(WorkerLimits.MAX_LABELS);
        most.put("one", "more");
        assertThatThrownBy(() -> Labels.of(most)).isInstanceOf(IllegalArgumentException.class);
        for (String word : List.of("a", "9x", "a.b_c-d", "-x", ".x", "_x", "a b", "a=b", "a,b", "é", "",
                "x".repeat(WorkerLimits.MAX_LABEL_LENGTH), "x".repeat(WorkerLimits.MAX_LABEL_LENGTH + 1))) {
            assertThat(accepted(Map.of("k", word))).as("value '%s'", word).isEqualTo(WorkerLimits.isLabelWord(word));
            assertThat(accepted(Map.of(word, "v"))).as("key '%s'", word).isEqualTo(WorkerLimits.isLabelWord(word));
        }
    }

    private static boolean accepted(Map<String, String> labels) {
        try {
            Labels.of(labels);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
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
