package io.taskgrid.it;

import jakarta.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.URI;
import java.net.http.HttpRequest;
import java.time.Duration;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every kind of bad request gets a clear application/problem+json answer and creates no task, against the real
 * master.
 */
@ExtendWith(SharedCluster.class)
class BadInputIT {

    private final TaskgridClient api = SharedCluster.client();

    static Stream<Arguments> badBodies() {
        return Stream.of(
                Arguments.of("{\"cmd\": \"echo", "malformed JSON"),
                Arguments.of("not json at all", "malformed JSON"),
                Arguments.of("", "empty"),
                Arguments.of("[\"echo hi\"]", "must be a JSON object"),
                Arguments.of("\"echo hi\"", "must be a JSON object"),
                Arguments.of("{}", "'cmd' is required"),
                Arguments.of("{\"command\": \"echo\"}", "unknown field 'command'"),
                Arguments.of("{\"cmd\": 5}", "'cmd' must be a string"),
                Arguments.of("{\"cmd\": [\"ls\", \"-l\"]}", "'cmd' must be a string"),
                Arguments.of("{\"cmd\": \"   \"}", "must not be blank"),
                Arguments.of("{\"cmd\": \"echo\\u0000\"}", "NUL"),
                Arguments.of("{\"cmd\": \"" + "x".repeat(64 * 1024 + 1) + "\"}", "at most 65536"),
                Arguments.of("{\"cmd\": \"true\", \"timeoutSeconds\": 0}", "'timeoutSeconds'"),
                Arguments.of("{\"cmd\": \"true\", \"timeoutSeconds\": -1}", "'timeoutSeconds'"),
                Arguments.of("{\"cmd\": \"true\", \"timeoutSeconds\": 2.5}", "'timeoutSeconds'"),
                Arguments.of("{\"cmd\": \"true\", \"timeoutSeconds\": \"60\"}", "'timeoutSeconds'"),
                Arguments.of("{\"cmd\": \"true\", \"timeoutSeconds\": 1e12}", "'timeoutSeconds'"),
                Arguments.of("{\"cmd\": \"true\", \"env\": \"A=1\"}", "'env' must be an object"),
                Arguments.of("{\"cmd\": \"true\", \"env\": {\"A\": 1}}", "'env.A' must be a string"),
                Arguments.of("{\"cmd\": \"true\", \"env\": {\"9LIVES\": \"x\"}}", "not a valid variable name"),
                Arguments.of("{\"cmd\": \"true\", \"cwd\": \"relative/path\"}", "'cwd' must be an absolute path"));
    }

    @ParameterizedTest(name = "[{index}] {1}")
    @MethodSource("badBodies")
    void badBodiesAreRefusedWith400AndCreateNothing(String body, String reason) {
        String newestBefore = api.newestTaskId();
        TaskgridClient.Reply reply = api.post("/tasks", "application/json", body);
        assertProblem(reply, 400, reason);
        assertThat(api.newestTaskId()).isEqualTo(newestBefore);
    }

    @Test
    void aBodyOverOneMebibyteIs413() {
        String newestBefore = api.newestTaskId();
        String body = "{\"cmd\": \"true\", \"env\": {\"PAD\": \"" + "x".repeat(1024 * 1024) + "\"}}";
        assertProblem(api.post("/tasks", "application/json", body), 413, "1 MiB");
        assertThat(api.newestTaskId()).isEqualTo(newestBefore);
    }

    @ParameterizedTest
    @ValueSource(strings = {"text/plain", "application/x-www-form-urlencoded", "application/xml"})
    void aContentTypeOtherThanJsonIs415(String contentType) {
        String newestBefore = api.newestTaskId();
        assertProblem(api.post("/tasks", contentType, "{\"cmd\":\"true\"}"), 415, "application/json");
        assertThat(api.newestTaskId()).isEqualTo(newestBefore);
    }

    @Test
    void jsonWithACharsetIsFine() {
        String id = api.submit("{\"cmd\":\"echo ok\"}");
        assertThat(api.post("/tasks", "application/json; charset=utf-8", "{\"cmd\":\"echo ok\"}").status()).isEqualTo(202);
        assertThat(api.awaitFinal(id, Duration.ofSeconds(30)).getString("state")).isEqualTo("SUCCEEDED");
    }

    @ParameterizedTest
    @ValueSource(strings = {"/nothing-here", "/tasks/a/b", "/api/v2/tasks"})
    void unknownPathsAre404InProblemJson(String path) {
        assertProblem(api.get(path), 404, "no such resource");
    }

    @Test
    void anUnknownTaskIs404() {
        assertProblem(api.get("/tasks/01234567-89ab-7def-8123-456789abcdef"), 404, "no task with id");
        assertProblem(api.get("/tasks/not-an-id"), 404, "no task with id");
    }

    @Test
    void aWrongMethodIs405() {
        TaskgridClient.Reply reply = api.send(HttpRequest.newBuilder(
                URI.create(SharedCluster.cluster().config().apiBase() + "/workers"))
                .POST(HttpRequest.BodyPublishers.ofString("{}")).header("Content-Type", "application/json").build());
        assertProblem(reply, 405, "not allowed");
    }

    @ParameterizedTest
    @ValueSource(strings = {"limit=0", "limit=1001", "limit=ten", "state=DONE", "cursor=bogus"})
    void badListingParametersAre400(String query) {
        assertProblem(api.get("/tasks?" + query), 400, query.substring(0, query.indexOf('=')));
    }

    private static void assertProblem(TaskgridClient.Reply reply, int status, String detail) {
        assertThat(reply.status()).as(reply.body()).isEqualTo(status);
        assertThat(reply.contentType()).startsWith("application/problem+json");
        JsonObject problem = reply.json();
        assertThat(problem.getInt("status")).isEqualTo(status);
        assertThat(problem.getString("title")).isNotBlank();
        assertThat(problem.getString("detail")).containsIgnoringCase(detail);
    }
}
