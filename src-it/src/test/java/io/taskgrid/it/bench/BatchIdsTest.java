package io.taskgrid.it.bench;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class BatchIdsTest {

    @Test
    void takesTheIdsInOrderFromTheShapesABatchAnswerMayHave() {
        assertThat(Benchmark.idsOf("[\"a\",\"b\"]")).containsExactly("a", "b");
        assertThat(Benchmark.idsOf("{\"ids\":[\"a\",\"b\"]}")).containsExactly("a", "b");
        assertThat(Benchmark.idsOf("{\"tasks\":[{\"id\":\"a\",\"state\":\"QUEUED\"},{\"id\":\"b\"}]}"))
                .containsExactly("a", "b");
    }

    @Test
    void anAnswerWithoutIdsIsAnErrorNotACountOfZero() {
        assertThatThrownBy(() -> Benchmark.idsOf("{\"accepted\":2}")).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> Benchmark.idsOf("[1,2]")).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void aBatchBodyIsAJsonArrayOfTheSubmission() {
        assertThat(Benchmark.batchBody("{\"cmd\":\"true\"}", 3))
                .isEqualTo("[{\"cmd\":\"true\"},{\"cmd\":\"true\"},{\"cmd\":\"true\"}]");
    }
}
