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
 * Bad requests against the real master: each gets a clear application/problem+json answer over the wire and creates
 * no task. What the server adds to the request parser is tested here (content type, body size, method, paths, query
 * parameters, and that a refusal of the parser reaches the client as such); the parser's own rules, case by case,
 * are TaskSubmissionParserTest's, in master-war.
 */
@ExtendWith(SharedCluster.class)
class BadInputIT {

    private final TaskgridClient api = SharedCluster.client();

    static Stream<Arguments> badBodies() {
        return Stream.of(
                // One parser refusal, to show the way any of them comes out: 400, problem+json, no task.
                Arguments.of("{\"cmd\": \"echo", "malformed JSON"),
                // No body at all: the resource's handling of a missing entity comes before the parser.
                Arguments.of("", "empty"),
                // Not in the parser's test: with 'cmd' missing too, the unknown field is the one named.
                Arguments.of("{\"command\": \"echo\"}", "unknown field 'command'"));
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
