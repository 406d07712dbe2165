package io.taskgrid.master.api;

import io.taskgrid.master.task.TaskIds;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TaskResourceCursorTest {

    @Test
    void aCursorRoundTripsToTheIdItWasMadeFrom() {
        String id = TaskIds.next();
        assertThat(TaskResource.parseCursor(TaskResource.encodeCursor(id))).isEqualTo(id);
    }

    @Test
    void aCursorThatWasNotHandedOutIsABadRequest() {
        assertThatThrownBy(() -> TaskResource.parseCursor("not-a-cursor!"))
                .isInstanceOfSatisfying(ApiProblem.class, p -> assertThat(p.status()).isEqualTo(400));
        assertThatThrownBy(() -> TaskResource.parseCursor(TaskResource.encodeCursor("../../etc")))
                .isInstanceOf(ApiProblem.class);
    }

    @Test
    void noCursorMeansTheFirstPage() {
        assertThat(TaskResource.parseCursor(null)).isNull();
        assertThat(TaskResource.parseCursor("")).isNull();
    }
}
