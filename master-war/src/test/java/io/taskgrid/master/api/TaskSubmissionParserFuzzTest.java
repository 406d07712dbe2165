package io.taskgrid.master.api;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.taskgrid.master.task.NewTask;

import java.nio.charset.StandardCharsets;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Jazzer fuzzes the parser of POST /tasks bodies: whatever the bytes, it either returns a task that satisfies every
 * rule or refuses with a 400 and a reason; any other exception is a finding. Run as a plain test it replays the seeds;
 * with JAZZER_FUZZ=1 (as the build sets it for this class) it fuzzes for the duration given.
 */
class TaskSubmissionParserFuzzTest {

    @FuzzTest(maxDuration = "15s")
    void eitherAValidTaskOrA400WithAReason(FuzzedDataProvider data) {
        String body = data.consumeRemainingAsString();
        try {
            NewTask task = TaskSubmissionParser.parse(body);
            assertThat(task.cmd()).isNotBlank().doesNotContain("\0");
            assertThat(task.cmd().getBytes(StandardCharsets.UTF_8).length).isLessThanOrEqualTo(TaskSubmissionParser.MAX_CMD_BYTES);
            if (task.timeoutSeconds() != null) {
                assertThat(task.timeoutSeconds()).isBetween(1L, TaskSubmissionParser.MAX_TIMEOUT_SECONDS);
            }
            for (Map<String, String> env : java.util.List.of(task.env(), task.secretEnv())) {
                env.forEach((name, value) -> {
                    assertThat(name).matches("[A-Za-z_][A-Za-z0-9_]*");
                    assertThat(value).doesNotContain("\0");
                });
            }
            if (task.cwd() != null) {
                assertThat(task.cwd()).startsWith("/").doesNotContain("\0");
            }
        } catch (ApiProblem refused) {
            assertThat(refused.status()).isEqualTo(400);
            assertThat(refused.getMessage()).isNotBlank();
        }
    }
}
