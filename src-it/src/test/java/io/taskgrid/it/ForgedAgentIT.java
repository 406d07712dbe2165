package io.taskgrid.it;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.taskgrid.it.cluster.LocalCluster;
import io.taskgrid.proto.v1.Outcome;
import io.taskgrid.proto.v1.Phase;
import io.taskgrid.proto.v1.RunningAttempt;
import io.taskgrid.proto.v1.StatusReport;
import io.taskgrid.proto.v1.Verdict;
import jakarta.json.JsonArray;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/**
 * A client holding the join token is not thereby an agent of anyone's tasks: it can register under a free id, and
 * speak only for attempts handed to that id. Against the real master, with real agents running the real tasks.
 */
@ExtendWith(SharedCluster.class)
class ForgedAgentIT {

    private final LocalCluster cluster = SharedCluster.cluster();
    private final TaskgridClient api = SharedCluster.client();

    private static Status.Code refusal(Runnable call) {
        StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class, call::run);
        assertThat(e).as("the call was refused").isNotNull();
        return e.getStatus().getCode();
    }

    @Test
    void nobodyButTheConnectionHoldingAnAttemptCanReportItsResult() throws Exception {
        String id = api.submitCmd("sleep 4; echo real");
        JsonObject running = api.awaitState(id, Set.of("RUNNING"), Duration.ofSeconds(30));
        JsonArray attempts = running.getJsonArray("attempts");
        String attemptId = attempts.getJsonObject(attempts.size() - 1).getString("id");
        String holder = running.getString("workerId");
        StatusReport forged = StatusReport.newBuilder().setTaskId(id).setAttemptId(attemptId).setPhase(Phase.FINISHED)
                .setOutcome(Outcome.EXITED).setExitCode(0).setStdout(ByteString.copyFromUtf8("forged\n")).build();
        String target = cluster.config().grpcTarget();

        try (FakeAgent ghost = FakeAgent.unregistered(target, cluster.joinToken(), "ghost");
             FakeAgent intruder = FakeAgent.register(target, cluster.joinToken(), "intruder", 8, List.of(), null);
             FakeAgent claimer = FakeAgent.register(target, cluster.joinToken(), "claimer", 1,
                     List.of(RunningAttempt.newBuilder().setTaskId(id).setAttemptId(attemptId).build()), null);
             FakeAgent impostor = FakeAgent.register(target, cluster.joinToken(), holder, 1, List.of(), null)) {
            ghost.reportUnanswered(forged.toBuilder().setWorkerId(holder).build());
            assertThat(ghost.ended.get(10, TimeUnit.SECONDS).getCode())
                    .as("a stream that never registered, naming the holder").isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(intruder.firstCommand().hasRegistered()).isTrue();
            assertThat(intruder.reportAsSelf(forged.toBuilder()).getVerdict())
                    .as("a registered client that was not given the attempt").isEqualTo(Verdict.REFUSED);
            assertThat(claimer.firstCommand().getRegistered().getRefusedAttemptIdsList())
                    .as("a claim on another worker's attempt").containsExactly(attemptId);
            assertThat(claimer.reportAsSelf(forged.toBuilder()).getVerdict()).isEqualTo(Verdict.REFUSED);
            assertThat(impostor.ended.get(10, TimeUnit.SECONDS).getCode()).as("the holder's own id is taken")
                    .isEqualTo(Status.Code.ALREADY_EXISTS);

            JsonObject done = api.awaitFinal(id, Duration.ofSeconds(30));
            assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
            assertThat(done.getString("stdout")).isEqualTo("real\n");
            assertThat(done.getString("workerId")).isEqualTo(holder);
        }
        String log = Files.readString(Path.of(SharedCluster.property("taskgrid.wlp.dir"),
                "usr/servers/taskgrid/logs/messages.log"));
        assertThat(log).contains("worker intruder reported on attempt " + attemptId)
                .contains("worker claimer claimed 1 attempt(s) that were never handed to it");
        assertThat(count(log, "worker intruder reported on attempt " + attemptId)).as("logged once").isEqualTo(1);
    }

    @Test
    void agentsThatOnlyHandTasksBackAreDrainedAndATaskTheyKeepRefusingFails() throws Exception {
        for (String agent : cluster.agentIds()) {
            cluster.stopAgent(agent);
        }
        cluster.awaitWorkers(0, Duration.ofSeconds(30));
        List<FakeAgent> refusers = new ArrayList<>();
        try {
            for (int i = 1; i <= 3; i++) {
                refusers.add(FakeAgent.register(cluster.config().grpcTarget(), cluster.joinToken(), "refuser-" + i, 1,
                        List.of(), (agent, assignment) -> agent.reportAsSelf(StatusReport.newBuilder()
                                .setTaskId(assignment.getTaskId())
                                .setAttemptId(assignment.getAttemptId())
                                .setPhase(Phase.FINISHED).setOutcome(Outcome.REJECTED).setReason("not today"))));
            }
            cluster.awaitWorkers(3, Duration.ofSeconds(30));

            JsonObject first = api.awaitFinal(api.submitCmd("echo refused"), Duration.ofSeconds(60));
            assertThat(first.getString("state")).isEqualTo("FAILED");
            assertThat(first.getString("reason")).contains("handed the task back unstarted 10 times")
                    .contains("not today");
            assertThat(first.getJsonArray("attempts")).hasSize(10)
                    .allSatisfy(a -> assertThat(a.asJsonObject().getString("outcome")).isEqualTo("REFUSED"));

            String second = api.submitCmd("echo eventually");
            poll(Duration.ofSeconds(60), Duration.ofMillis(100)).alias("every refuser drained")
                    .until(() -> api.workers().stream().allMatch(w -> w.getBoolean("draining")));
            assertThat(api.workers()).allSatisfy(w -> {
                assertThat(w.getString("drainReason")).contains("handed back 5 tasks in a row");
                assertThat(w.getInt("refused")).isGreaterThanOrEqualTo(5);
            });
            assertThat(api.state(second)).as("not circling: it waits for a worker that runs tasks").isEqualTo("QUEUED");
        } finally {
            for (FakeAgent refuser : refusers) {
                refuser.close();
            }
        }
        cluster.ensureAllRunning();
    }

    private static int count(String text, String needle) {
        int n = 0;
        for (int i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + 1)) {
            n++;
        }
        return n;
    }
}
