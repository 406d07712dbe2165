package io.taskgrid.master.api;

import io.taskgrid.master.task.Labels;
import org.junit.jupiter.api.Test;

import java.util.Collections;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The label filter of GET /tasks: checked as a task's requirements are, and every mistake a 400 that says which. */
class TaskListLabelsTest {

    @Test
    void pairsAreCheckedAndKept() {
        assertThat(TaskResource.parseLabels(null)).isEqualTo(Labels.NONE);
        assertThat(TaskResource.parseLabels(List.of("gpu=yes", "zone=a_1")))
                .isEqualTo(Labels.of(Map.of("gpu", "yes", "zone", "a_1")));
    }

    @Test
    void everyMistakeIsA400ThatSaysWhich() {
        assertBadRequest(List.of("no-equals"), "is not key=value");
        assertBadRequest(List.of("os=linux", "os=bsd"), "'os' is given twice");
        assertBadRequest(List.of("bad key=x"), "label key");
        assertBadRequest(List.of("k=" + "v".repeat(1000)), "value of label 'k'");
        assertBadRequest(Collections.nCopies(Labels.MAX_LABELS + 1, "k=v"), "at most " + Labels.MAX_LABELS);
    }

    private static void assertBadRequest(List<String> labels, String says) {
        assertThatThrownBy(() -> TaskResource.parseLabels(labels)).isInstanceOfSatisfying(ApiProblem.class,
                problem -> {
                    assertThat(problem.status()).isEqualTo(400);
                    assertThat(problem.getMessage()).contains(says);
                });
    }
}
