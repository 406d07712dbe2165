package io.taskgrid.master.task;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.LocalDateTime;
import java.util.List;

import static io.taskgrid.master.task.TaskBuilder.T0;
import static io.taskgrid.master.task.TaskBuilder.aQueuedTask;
import static io.taskgrid.master.task.TaskBuilder.aRunningTask;
import static io.taskgrid.master.task.TaskBuilder.anAssignedTask;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Every way a task can go, on the task alone: no container, no database, no clock. */
class TaskLifecycleTest {

    private static final LocalDateTime LATER = T0.plusMinutes(5);

    private static TaskResult exited(int code) {
        return TaskResult.of(AgentOutcome.EXITED, code, "out", false, "err", false, null);
    }

    @Test
    void aNewTaskIsQueuedWithItsCountersAtZero() {
        Task task = aQueuedTask().maxAttempts(5).retries(2).build();
        assertThat(task.getState()).isEqualTo(TaskState.QUEUED);
        assertThat(task.getMaxAttempts()).isEqualTo(5);
        assertThat(task.getRetries()).isEqualTo(2);
        assertThat(task.getAttemptCount()).isZero();
        assertThat(task.isUnsaved()).isTrue();
        assertThat(task.getAttemptId()).isNull();
    }

    @Test
    void assigningMakesANewAttemptThatCounts() {
        Task task = aQueuedTask().build();
        Attempt attempt = task.assign("w2", "a-1", T0);
        assertThat(task.getState()).isEqualTo(TaskState.ASSIGNED);
        assertThat(task.getWorkerId()).isEqualTo("w2");
        assertThat(task.getAttemptId()).isEqualTo("a-1");
        assertThat(task.getAttemptCount()).isEqualTo(1);
        assertThat(attempt.isUnsaved()).isTrue();
        assertThat(task.takeChangedAttempts()).containsExactly(attempt);
        assertThat(task.takeChangedAttempts()).as("taken once").isEmpty();
        assertThatThrownBy(() -> task.assign("w3", "a-2", T0)).isInstanceOf(IllegalTransitionException.class);
    }

    @Test
    void aStartedAttemptRunsAndASuccessIsFinal() {
        TaskBuilder builder = anAssignedTask();
        Task task = builder.build();
        assertThat(task.started(builder.attemptId(), T0.plusSeconds(3))).isTrue();
        assertThat(task.getState()).isEqualTo(TaskState.RUNNING);
        assertThat(task.getStartedAt()).isEqualTo(T0.plusSeconds(3));
        assertThat(task.finished(builder.attemptId(), exited(0), LATER)).isEqualTo(Settled.FINAL);
        assertThat(task.getState()).isEqualTo(TaskState.SUCCEEDED);
        assertThat(task.getExitCode()).isZero();
        assertThat(task.getStdout()).isEqualTo("out");
        assertThat(task.getFinishedAt()).isEqualTo(LATER);
        List<Attempt> changed = task.takeChangedAttempts();
        assertThat(changed).hasSize(1);
        assertThat(changed.get(0).getOutcome()).isEqualTo("SUCCEEDED");
        assertThat(changed.get(0).getEndedAt()).isEqualTo(LATER);
        assertThat(task.currentAttempt()).isNull();
    }

    @Test
    void aNonZeroExitWithRetriesLeftIsQueuedAgainAsAFreshRun() {
        TaskBuilder builder = aRunningTask().retries(1);
        Task task = builder.build();
        assertThat(task.finished(builder.attemptId(), exited(3), LATER)).isEqualTo(Settled.REQUEUED);
        assertThat(task.getState()).isEqualTo(TaskState.QUEUED);
        assertThat(task.getRetriesUsed()).isEqualTo(1);
        assertThat(task.getAttemptCount()).as("a retry does not count against maxAttempts").isZero();
        assertThat(task.getAttemptId()).isNull();
        assertThat(task.getWorkerId()).isNull();
        assertThat(task.getStartedAt()).isNull();
        assertThat(task.takeChangedAttempts().get(0).getReason()).contains("exit code 3; retry 1 of 1");

        task.assign("w2", "a-2", LATER);
        task.started("a-2", LATER);
        assertThat(task.finished("a-2", exited(3), LATER)).as("no retries left").isEqualTo(Settled.FINAL);
        assertThat(task.getState()).isEqualTo(TaskState.FAILED);
        assertThat(task.getExitCode()).isEqualTo(3);
    }

    @Test
    void aFailureWithoutRetriesIsFinalAtOnce() {
        TaskBuilder builder = aRunningTask();
        Task task = builder.build();
        assertThat(task.finished(builder.attemptId(), exited(1), LATER)).isEqualTo(Settled.FINAL);
        assertThat(task.getState()).isEqualTo(TaskState.FAILED);
    }

    @Test
    void theAgentsOutcomesMapToStatesWithReasons() {
        assertThat(TaskResult.of(AgentOutcome.TIMED_OUT, -1, "", false, "", false, null))
                .satisfies(r -> assertThat(r.state()).isEqualTo(TaskState.TIMED_OUT))
                .satisfies(r -> assertThat(r.reason()).isEqualTo("timed out"))
                .satisfies(r -> assertThat(r.exitCode()).isNull());
        assertThat(TaskResult.of(AgentOutcome.FAILED_TO_START, -1, "", false, "", false, "no cwd").reason())
                .isEqualTo("no cwd");
        assertThat(TaskResult.of(AgentOutcome.KILLED, -1, "", false, "", false, null).state()).isEqualTo(TaskState.FAILED);
        assertThat(TaskResult.of(AgentOutcome.CANCELLED, -1, "", false, "", false, null).state())
                .isEqualTo(TaskState.CANCELLED);
        assertThat(TaskResult.of(AgentOutcome.UNKNOWN, 0, "", false, "", false, "lies").reason())
                .isEqualTo("the agent reported no outcome");
    }

    @Test
    void aTimeoutIsFinalEvenWithRetriesLeft() {
        TaskBuilder builder = aRunningTask().retries(3);
        Task task = builder.build();
        TaskResult timedOut = TaskResult.of(AgentOutcome.TIMED_OUT, -1, "partial", false, "", false, null);
        assertThat(task.finished(builder.attemptId(), timedOut, LATER)).isEqualTo(Settled.FINAL);
        assertThat(task.getState()).isEqualTo(TaskState.TIMED_OUT);
        assertThat(task.getStdout()).isEqualTo("partial");
    }

    @Test
    void aReportOfAnAttemptThatIsNotCurrentChangesNothing() {
        TaskBuilder builder = aRunningTask();
        Task task = builder.build();
        assertThat(task.finished("someone-else", exited(0), LATER)).isEqualTo(Settled.IGNORED);
        assertThat(task.started("someone-else", LATER)).isFalse();
        assertThat(task.refused("someone-else", "no", 10, LATER)).isEqualTo(Settled.IGNORED);
        assertThat(task.lost("someone-else", "gone", LATER)).isEmpty();
        assertThat(task.getState()).isEqualTo(TaskState.RUNNING);
        task.takeChangedAttempts();
        // A late report for the attempt after the task ended changes nothing either.
        task.finished(builder.attemptId(), exited(0), LATER);
        assertThat(task.finished(builder.attemptId(), exited(1), LATER.plusSeconds(1))).isEqualTo(Settled.IGNORED);
        assertThat(task.getState()).isEqualTo(TaskState.SUCCEEDED);
        assertThat(task.isCurrent(builder.attemptId())).isFalse();
    }

    @Test
    void aResultWithoutAStartedReportStillRecordsThatItStarted() {
        TaskBuilder builder = anAssignedTask();
        Task task = builder.build();
        assertThat(task.finished(builder.attemptId(), exited(0), LATER)).isEqualTo(Settled.FINAL);
        assertThat(task.getStartedAt()).isEqualTo(LATER);
        Task notStarted = anAssignedTask().build();
        notStarted.finished(notStarted.getAttemptId(), TaskResult.of(AgentOutcome.FAILED_TO_START, -1, "", false, "",
                false, "no cwd"), LATER);
        assertThat(notStarted.getStartedAt()).as("nothing ran").isNull();
    }

    @Test
    void aQueuedTaskIsCancelledAtOnce() {
        Task task = aQueuedTask().build();
        assertThat(task.cancel("tester", LATER)).isEqualTo(CancelOutcome.CANCELLED);
        assertThat(task.getState()).isEqualTo(TaskState.CANCELLED);
        assertThat(task.isCancelRequested()).isTrue();
        assertThat(task.getReason()).isEqualTo("cancelled while queued");
        assertThat(task.cancel("tester", LATER)).as("twice is harmless").isEqualTo(CancelOutcome.ALREADY_FINAL);
    }

    @Test
    void aTaskInFlightIsMarkedAndEndsWhenItsAgentStopsIt() {
        TaskBuilder builder = aRunningTask().retries(5);
        Task task = builder.build();
        assertThat(task.cancel("tester", LATER)).isEqualTo(CancelOutcome.IN_FLIGHT);
        assertThat(task.getState()).isEqualTo(TaskState.RUNNING);
        assertThat(task.isCancelRequested()).isTrue();
        TaskResult stopped = TaskResult.of(AgentOutcome.CANCELLED, -1, "", false, "", false, null);
        assertThat(task.finished(builder.attemptId(), stopped, LATER)).isEqualTo(Settled.FINAL);
        assertThat(task.getState()).isEqualTo(TaskState.CANCELLED);
    }

    @Test
    void aCancelledTaskIsNotRetriedOnANonZeroExit() {
        TaskBuilder builder = aRunningTask().retries(5);
        Task task = builder.build();
        task.cancel("tester", LATER);
        assertThat(task.finished(builder.attemptId(), exited(143), LATER)).isEqualTo(Settled.FINAL);
        assertThat(task.getState()).isEqualTo(TaskState.FAILED);
    }

    @Test
    void aLostAttemptGoesBackToTheQueueWhileAttemptsAreLeftThenTheTaskIsLost() {
        Task task = aQueuedTask().maxAttempts(2).build();
        task.assign("w1", "a-1", T0);
        assertThat(task.lost("a-1", "worker w1 gone", LATER)).contains(TaskState.QUEUED);
        assertThat(task.getAttemptCount()).isEqualTo(1);
        task.assign("w2", "a-2", LATER);
        task.started("a-2", LATER);
        assertThat(task.lost("a-2", "worker w2 gone", LATER)).contains(TaskState.LOST);
        assertThat(task.getReason()).contains("worker w2 gone").contains("no attempts left (2 of 2)");
        List<Attempt> changed = task.takeChangedAttempts();
        assertThat(changed).extracting(Attempt::getOutcome).containsExactly("LOST", "LOST");
    }

    @Test
    void aLostAttemptOfACancelledTaskEndsItCancelled() {
        TaskBuilder builder = aRunningTask();
        Task task = builder.build();
        task.cancel("tester", LATER);
        assertThat(task.lost(builder.attemptId(), "gone", LATER)).contains(TaskState.CANCELLED);
    }

    @Test
    void aRefusedAttemptGoesBackToTheQueueWithoutCountingAndTooManyFailTheTask() {
        Task task = aQueuedTask().maxAttempts(1).build();
        for (int i = 1; i < 3; i++) {
            task.assign("w" + i, "a-" + i, T0);
            assertThat(task.refused("a-" + i, "shutting down", 3, LATER)).isEqualTo(Settled.REQUEUED);
            assertThat(task.getAttemptCount()).as("a refusal is no attempt").isZero();
            assertThat(task.getRefusals()).isEqualTo(i);
        }
        task.assign("w3", "a-3", T0);
        assertThat(task.refused("a-3", "not today", 3, LATER)).isEqualTo(Settled.FINAL);
        assertThat(task.getState()).isEqualTo(TaskState.FAILED);
        assertThat(task.getReason()).contains("handed the task back unstarted 3 times").contains("not today");
        assertThat(task.takeChangedAttempts()).extracting(Attempt::getOutcome).containsOnly("REFUSED");
    }

    @Test
    void aReturnedAttemptGoesBackToTheQueueCountingNeitherAsAttemptNorAsRefusal() {
        Task task = aQueuedTask().maxAttempts(1).build();
        for (int i = 1; i <= 5; i++) {
            task.assign("w" + i, "a-" + i, T0);
            assertThat(task.returned("a-" + i, "draining", LATER)).isEqualTo(Settled.REQUEUED);
        }
        assertThat(task.getState()).isEqualTo(TaskState.QUEUED);
        assertThat(task.getAttemptCount()).isZero();
        assertThat(task.getRefusals()).isZero();
        assertThat(task.takeChangedAttempts()).extracting(Attempt::getOutcome).containsOnly("RETURNED");
        task.assign("w6", "a-6", T0);
        task.started("a-6", LATER);
        assertThat(task.returned("a-6", "too late", LATER)).as("a started attempt is not returned").isEqualTo(Settled.IGNORED);
    }

    @Test
    void aStartTakenFromHowLongTheProcessRanIsNeverBeforeTheAssignment() {
        Task task = aQueuedTask().build();
        task.assign("w1", "a-1", T0);
        assertThat(task.startFrom(T0.plusSeconds(10), Duration.ofSeconds(3))).isEqualTo(T0.plusSeconds(7));
        assertThat(task.startFrom(T0.plusSeconds(10), Duration.ofDays(1))).as("an agent's figure cannot go before it")
                .isEqualTo(T0);
        assertThat(task.startFrom(T0.plusSeconds(10), Duration.ofSeconds(Long.MAX_VALUE / 2))).isEqualTo(T0);
    }

    @Test
    void aRunningAttemptCannotBeRefused() {
        TaskBuilder builder = aRunningTask();
        Task task = builder.build();
        assertThat(task.refused(builder.attemptId(), "too late", 10, LATER)).isEqualTo(Settled.IGNORED);
        assertThat(task.getState()).isEqualTo(TaskState.RUNNING);
    }

    @Test
    void aRefusalOfACancelledTaskEndsIt() {
        TaskBuilder builder = anAssignedTask();
        Task task = builder.build();
        task.cancel("tester", LATER);
        assertThat(task.refused(builder.attemptId(), "no", 10, LATER)).isEqualTo(Settled.FINAL);
        assertThat(task.getState()).isEqualTo(TaskState.CANCELLED);
    }

    @Test
    void aResultTheDatabaseRefusedEndsTheTaskFailedWithoutOutput() {
        TaskBuilder builder = aRunningTask();
        Task task = builder.build();
        assertThat(task.failUnstorable(builder.attemptId(), "could not store", LATER)).isTrue();
        assertThat(task.getState()).isEqualTo(TaskState.FAILED);
        assertThat(task.getStdout()).isNull();
        assertThat(task.getReason()).isEqualTo("could not store");
        assertThat(task.failUnstorable(builder.attemptId(), "again", LATER)).isFalse();
    }

    @Test
    void aSnapshotDoesNotFollowLaterChanges() {
        TaskBuilder builder = aRunningTask();
        Task task = builder.build();
        Task before = task.snapshot();
        task.finished(builder.attemptId(), exited(0), LATER);
        assertThat(before.getState()).isEqualTo(TaskState.RUNNING);
        assertThat(task.getState()).isEqualTo(TaskState.SUCCEEDED);
    }

    @Test
    void reasonsAreCutToTheirColumn() {
        TaskBuilder builder = aRunningTask();
        Task task = builder.build();
        task.finished(builder.attemptId(), TaskResult.of(AgentOutcome.FAILED_TO_START, -1, "", false, "", false,
                "x".repeat(5000)), LATER);
        assertThat(task.getReason()).hasSize(2000).endsWith("...");
    }
}
