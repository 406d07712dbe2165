package io.taskgrid.master.task;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TaskTransitionsTest {

    /** Written out by hand, independently of the table, so a change to the table must be made twice on purpose. */
    private static final Set<String> ALLOWED = Set.of(
            "QUEUED->ASSIGNED", "QUEUED->CANCELLED", "QUEUED->FAILED",
            "ASSIGNED->QUEUED", "ASSIGNED->RUNNING", "ASSIGNED->SUCCEEDED", "ASSIGNED->FAILED",
            "ASSIGNED->TIMED_OUT", "ASSIGNED->CANCELLED", "ASSIGNED->LOST",
            "RUNNING->QUEUED", "RUNNING->SUCCEEDED", "RUNNING->FAILED", "RUNNING->TIMED_OUT", "RUNNING->CANCELLED", "RUNNING->LOST");

    @Test
    void everyPairOfStatesIsAllowedExactlyWhenListed() {
        List<String> mismatches = new ArrayList<>();
        for (TaskState from : TaskState.values()) {
            for (TaskState to : TaskState.values()) {
                boolean expected = ALLOWED.contains(from + "->" + to);
                if (TaskTransitions.isAllowed(from, to) != expected) {
                    mismatches.add(from + "->" + to + " should be " + (expected ? "allowed" : "refused"));
                }
            }
        }
        assertThat(mismatches).isEmpty();
    }

    @Test
    void finalStatesAreExactlyTheOnesWithNoWayOut() {
        for (TaskState state : TaskState.values()) {
            boolean hasWayOut = ALLOWED.stream().anyMatch(t -> t.startsWith(state + "->"));
            assertThat(state.isFinal()).as(state.name()).isEqualTo(!hasWayOut);
        }
        assertThat(TaskState.SUCCEEDED.isFinal()).isTrue();
        assertThat(TaskState.QUEUED.isFinal()).isFalse();
    }

    @Test
    void noStateMayStayInPlace() {
        for (TaskState state : TaskState.values()) {
            assertThat(TaskTransitions.isAllowed(state, state)).as(state.name()).isFalse();
        }
    }

    @Test
    void inFlightStatesAreThoseAWorkerHolds() {
        assertThat(TaskTransitions.inFlight()).containsExactlyInAnyOrder(TaskState.ASSIGNED, TaskState.RUNNING);
    }

    @Test
    void aTaskRefusesAMoveTheTableForbids() {
        Task task = TaskBuilder.aRunningTask().build();
        task.finished(task.getAttemptId(), TaskResult.of(AgentOutcome.EXITED, 0, "", false, "", false, null),
                TaskBuilder.T0);
        assertThatThrownBy(() -> task.assign("w9", "a-9", TaskBuilder.T0))
                .isInstanceOf(IllegalTransitionException.class)
                .hasMessageContaining("SUCCEEDED").hasMessageContaining("ASSIGNED");
        assertThat(task.getState()).isEqualTo(TaskState.SUCCEEDED);
    }
}
