package io.taskgrid.master.api;

import io.taskgrid.master.task.NewTask;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.StringJoiner;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TaskSubmissionBatchTest {

    private static String batchOf(int count, String element) {
        StringJoiner body = new StringJoiner(",", "[", "]");
        for (int i = 0; i < count; i++) {
            body.add(element.replace("#", Integer.toString(i)));
        }
        return body.toString();
    }

    private static ApiProblem refusal(String body) {
        try {
            TaskSubmissionParser.parseSubmissions(body);
        } catch (ApiProblem problem) {
            return problem;
        }
        throw new AssertionError("accepted: " + body);
    }

    @Test
    void anObjectIsOneSubmissionAndNotABatch() {
        TaskSubmissionParser.Submissions one = TaskSubmissionParser.parseSubmissions("{\"cmd\":\"true\"}");
        assertThat(one.batch()).isFalse();
        assertThat(one.tasks()).extracting(NewTask::cmd).containsExactly("true");
    }

    @Test
    void anArrayIsABatchInOrderWithEveryFieldOfASingleSubmission() {
        TaskSubmissionParser.Submissions batch = TaskSubmissionParser.parseSubmissions(
                "[{\"cmd\":\"echo 0\"},{\"cmd\":\"echo 1\",\"env\":{\"A\":\"1\"},\"secretEnv\":{\"S\":\"x\"},"
                        + "\"priority\":7,\"retries\":2,\"timeoutSeconds\":5,\"requires\":{\"os\":\"linux\"}}]");
        assertThat(batch.batch()).isTrue();
        assertThat(batch.tasks()).extracting(NewTask::cmd).containsExactly("echo 0", "echo 1");
        NewTask second = batch.tasks().get(1);
        assertThat(second.env()).containsEntry("A", "1");
        assertThat(second.secretEnv()).containsEntry("S", "x");
        assertThat(second.priority()).isEqualTo(7);
        assertThat(second.retries()).isEqualTo(2);
        assertThat(second.timeoutSeconds()).isEqualTo(5L);
    }

    @Test
    void aBatchOfOneAndOfExactlyTheMostAreTaken() {
        assertThat(TaskSubmissionParser.parseSubmissions("[{\"cmd\":\"true\"}]").tasks()).hasSize(1);
        List<NewTask> most = TaskSubmissionParser.parseSubmissions(batchOf(TaskSubmissionParser.MAX_BATCH,
                "{\"cmd\":\"echo #\"}")).tasks();
        assertThat(most).hasSize(1000);
        assertThat(most.get(999).cmd()).isEqualTo("echo 999");
    }

    @Test
    void anEmptyBatchOrOneTooManyIsRefusedSayingSo() {
        assertThat(refusal("[]").getMessage()).contains("empty").contains("1 to 1000");
        assertThat(refusal(" [ ] ").status()).isEqualTo(400);
        ApiProblem tooMany = refusal(batchOf(1001, "{\"cmd\":\"true\"}"));
        assertThat(tooMany.status()).isEqualTo(400);
        assertThat(tooMany.getMessage()).contains("1001").contains("at most 1000");
    }

    @Test
    void theFirstBadSubmissionIsNamedByItsIndexInDetailAndMember() {
        String body = "[{\"cmd\":\"true\"},{\"cmd\":\"true\"},{\"cmd\":\"true\"},{\"cmd\":\"\"},{\"cmd\":5}]";
        ApiProblem problem = refusal(body);
        assertThat(problem.status()).isEqualTo(400);
        assertThat(problem.getMessage()).startsWith("submission 3: 'cmd' must not be blank");
        assertThat(problem.members()).containsEntry("index", 3);
    }

    @Test
    void everyKindOfBadElementIsRefusedWithItsIndex() {
        assertThat(refusal("[{\"cmd\":\"true\"},\"echo\"]").members()).containsEntry("index", 1);
        assertThat(refusal("[{\"cmd\":\"true\"},\"echo\"]").getMessage()).contains("submission 1: must be a JSON object")
                .contains("a string");
        assertThat(refusal("[null]").members()).containsEntry("index", 0);
        assertThat(refusal("[{\"cmd\":\"true\"},{\"cmd\":\"true\",\"nope\":1}]").getMessage())
                .startsWith("submission 1: unknown field 'nope'");
        assertThat(refusal(batchOf(999, "{\"cmd\":\"true\"}").replace("]", ",{\"cmd\":\"true\",\"cmd\":\"x\"}]"))
                .status()).isEqualTo(400);
        assertThat(refusal(batchOf(999, "{\"cmd\":\"true\"}").replace("]", ",{\"retries\":1000}]")).members())
                .containsEntry("index", 999);
    }

    @Test
    void aScalarOrMalformedBodyIsRefusedWithoutAnIndex() {
        assertThat(refusal("42").getMessage()).contains("a JSON object (one task) or an array");
        ApiProblem malformed = refusal("[{\"cmd\":\"true\"},");
        assertThat(malformed.getMessage()).startsWith("malformed JSON");
        assertThat(malformed.members()).doesNotContainKey("index");
    }

    @Test
    void theShapeLimitsApplyToTheWholeBatch() {
        String deep = "[" + "[".repeat(40) + "]".repeat(40) + "]";
        assertThat(refusal(deep).getMessage()).contains("nested deeper than 32");
        String longNumber = "[{\"cmd\":\"true\"},{\"cmd\":\"true\",\"retries\":" + "1".repeat(40) + "}]";
        assertThat(refusal(longNumber).getMessage()).contains("longer than 32 characters");
    }

    @Test
    void aBatchBodyMayBeUpToFourMebibytesAndASingleOneUpToOne() {
        String element = "{\"cmd\":\"echo " + "x".repeat(3000) + "\"}";
        String batch = batchOf(1000, element);
        assertThat(batch.length()).isBetween(TaskResource.MAX_BODY_BYTES, TaskResource.MAX_BATCH_BODY_BYTES);
        assertThat(TaskResource.readSubmissionBody(stream("  \n" + batch), null)).endsWith("]");
        assertThat(TaskResource.readSubmissionBody(stream(batch), Integer.toString(batch.length()))).startsWith("[");

        String bigObject = "{\"cmd\":\"" + "x".repeat(TaskResource.MAX_BODY_BYTES) + "\"}";
        assertThatThrownBy(() -> TaskResource.readSubmissionBody(stream(bigObject), null))
                .isInstanceOfSatisfying(ApiProblem.class, p -> assertThat(p.status()).isEqualTo(413));
        String tooBigBatch = "[" + "{\"cmd\":\"true\"},".repeat(TaskResource.MAX_BATCH_BODY_BYTES / 14) + "]";
        assertThatThrownBy(() -> TaskResource.readSubmissionBody(stream(tooBigBatch), null))
                .isInstanceOfSatisfying(ApiProblem.class, p -> assertThat(p.status()).isEqualTo(413));
        assertThatThrownBy(() -> TaskResource.readSubmissionBody(stream("[]"),
                Integer.toString(TaskResource.MAX_BATCH_BODY_BYTES + 1)))
                .isInstanceOfSatisfying(ApiProblem.class, p -> assertThat(p.status()).isEqualTo(413));
        // Other bodies (a token's, say) keep the 1 MiB limit even as arrays.
        assertThatThrownBy(() -> TaskResource.readBody(stream(batch), null))
                .isInstanceOfSatisfying(ApiProblem.class, p -> assertThat(p.status()).isEqualTo(413));
    }

    private static ByteArrayInputStream stream(String body) {
        return new ByteArrayInputStream(body.getBytes(StandardCharsets.UTF_8));
    }
}
