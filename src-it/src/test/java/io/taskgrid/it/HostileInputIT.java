package io.taskgrid.it;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Date;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Requests written to hurt, against the real master (Liberty's own JSON-P, EclipseLink and Derby): numbers and nesting
 * that cost a parser dearly, inputs longer than the columns that hold them, and one caller probing another's keys.
 */
@ExtendWith(SharedCluster.class)
class HostileInputIT {

    private static final String OTHER_SUBMITTER = "tgs_" + UUID.randomUUID();
    private static final String LONG_NAME = "ci-" + "n".repeat(300);
    private static final String LONG_NAMED = "tgs_" + UUID.randomUUID();

    private final TaskgridClient api = SharedCluster.client();

    @BeforeAll
    static void addTokens() throws Exception {
        Path tokens = Path.of(SharedCluster.property("taskgrid.wlp.dir"), "usr/servers/taskgrid/taskgrid-tokens.properties");
        Files.writeString(tokens, String.join("\n",
                "api.other-submitter = submitter:sha256:" + sha256(OTHER_SUBMITTER),
                "api." + LONG_NAME + " = submitter:sha256:" + sha256(LONG_NAMED), ""), StandardOpenOption.APPEND);
        // Fixed wait: the master looks at the file again on the first request a second after its last look, so
        // once 1.5 s have passed the next request is sure to find these tokens.
        TaskgridClient.sleep(1500);
    }

    private static String sha256(String token) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void aHugeExponentInAnyNumericFieldIsA400InWellUnderASecond() {
        for (String field : List.of("timeoutSeconds", "retries", "maxAttempts")) {
            for (String number : List.of("1e999999999", "1e-999999999", "-1.5e999999999")) {
                String newestBefore = api.newestTaskId();
                long started = System.nanoTime();
                TaskgridClient.Reply reply = api.post("/tasks", "application/json",
                        "{\"cmd\":\"true\",\"" + field + "\":" + number + "}");
                Duration took = Duration.ofNanos(System.nanoTime() - started);
                assertThat(reply.status()).as(field + "=" + number + ": " + reply.body()).isEqualTo(400);
                assertThat(reply.json().getString("detail")).contains(field).hasSizeLessThan(200);
                assertThat(took).as(field + "=" + number).isLessThan(Duration.ofMillis(500));
                assertThat(api.newestTaskId()).isEqualTo(newestBefore);
            }
        }
    }

    @Test
    void aBodyNestedThousandsOfLevelsDeepIsA400NotA500() {
        for (String body : List.of("[".repeat(200_000), "{\"cmd\":\"x\",\"env\":" + "{\"a\":".repeat(50_000))) {
            TaskgridClient.Reply reply = api.post("/tasks", "application/json", body);
            assertThat(reply.status()).isEqualTo(400);
            assertThat(reply.contentType()).startsWith("application/problem+json");
            assertThat(reply.json().getString("detail")).contains("nested deeper");
        }
    }

    @Test
    void errorDetailsRepeatAtMostAShortPrefixOfWhatWasSent() {
        String field = "z".repeat(200_000);
        TaskgridClient.Reply reply = api.post("/tasks", "application/json", "{\"cmd\":\"true\",\"" + field + "\":1}");
        assertThat(reply.status()).isEqualTo(400);
        assertThat(reply.body()).hasSizeLessThan(1000);
        TaskgridClient.Reply state = api.get("/tasks?state=" + "q".repeat(5000));
        assertThat(state.status()).isEqualTo(400);
        assertThat(state.body()).hasSizeLessThan(1000);
    }

    @Test
    void secretEnvWithAnIdempotencyKeyIsAcceptedAndReplayed() {
        String key = "secret-" + UUID.randomUUID();
        String body = "{\"cmd\":\"test \\\"$TOKEN\\\" = s3cret && echo matched\",\"secretEnv\":{\"TOKEN\":\"s3cret\"}}";
        TaskgridClient.Reply first = withKey(api, key, body);
        assertThat(first.status()).as(first.body()).isEqualTo(202);
        TaskgridClient.Reply again = withKey(api, key, body);
        assertThat(again.status()).isEqualTo(200);
        assertThat(again.json().getString("id")).isEqualTo(first.json().getString("id"));
        TaskgridClient.Reply changed = withKey(api, key, body.replace("s3cret\"}", "other\"}"));
        assertThat(changed.status()).as("another secret is another request").isEqualTo(422);
        JsonObject done = api.awaitFinal(first.json().getString("id"), Duration.ofSeconds(30));
        assertThat(done.getString("stdout")).isEqualTo("matched\n");
    }

    @Test
    void idempotencyKeysBelongToTheCallerThatUsedThem() {
        String key = "shared-" + UUID.randomUUID();
        TaskgridClient other = api.withToken(OTHER_SUBMITTER);
        TaskgridClient.Reply mine = withKey(api, key, "{\"cmd\":\"echo operator\"}");
        assertThat(mine.status()).isEqualTo(202);
        // The same key, another caller: neither the operator's task (a replay) nor a 422 revealing it.
        TaskgridClient.Reply theirs = withKey(other, key, "{\"cmd\":\"echo other\"}");
        assertThat(theirs.status()).as(theirs.body()).isEqualTo(202);
        assertThat(theirs.json().getString("id")).isNotEqualTo(mine.json().getString("id"));
        TaskgridClient.Reply probe = withKey(other, key, "{\"cmd\":\"echo operator\"}");
        assertThat(probe.status()).as("a different request under its own key").isEqualTo(422);
        assertThat(probe.body()).doesNotContain(mine.json().getString("id"));
        api.awaitFinal(mine.json().getString("id"), Duration.ofSeconds(30));
        api.awaitFinal(theirs.json().getString("id"), Duration.ofSeconds(30));

        TaskgridClient.Reply twoKeys = api.send(HttpRequest.newBuilder(URI.create(api.base() + "/tasks"))
                .header("Content-Type", "application/json").header("Idempotency-Key", key)
                .header("Idempotency-Key", "another-" + key).POST(HttpRequest.BodyPublishers.ofString("{\"cmd\":\"true\"}"))
                .build());
        assertThat(twoKeys.status()).as("two keys: which one was meant?").isEqualTo(400);
        assertThat(twoKeys.json().getString("detail")).contains("one Idempotency-Key");
    }

    @Test
    void aCallerNameLongerThanItsColumnStillSubmitsAndOwnsItsTasks() throws Exception {
        TaskgridClient longNamed = api.withToken(LONG_NAMED);
        TaskgridClient.Reply submitted = longNamed.post("/tasks", "application/json", "{\"cmd\":\"sleep 30\"}");
        assertThat(submitted.status()).as(submitted.body()).isEqualTo(202);
        String submittedBy = submitted.json().getString("submittedBy");
        assertThat(submittedBy).hasSizeLessThanOrEqualTo(128).startsWith("ci-nnn");
        String id = submitted.json().getString("id");
        assertThat(api.task(id).getString("submittedBy")).isEqualTo(submittedBy);
        // The owner-only cancel rule still recognises the caller.
        TaskgridClient.Reply cancel = longNamed.send(HttpRequest.newBuilder(URI.create(api.base() + "/tasks/" + id))
                .DELETE().build());
        assertThat(cancel.status()).as(cancel.body()).isIn(200, 202);
        assertThat(api.awaitFinal(id, Duration.ofSeconds(30)).getString("state")).isEqualTo("CANCELLED");
    }

    @Test
    void aJwtWithAVeryLongNameStillSubmits() throws Exception {
        // The subject names the caller: a long one (within the 255 characters a JWT's sub may have here).
        String subject = "u".repeat(250);
        SignedJWT token = new SignedJWT(
                new JWSHeader(JWSAlgorithm.RS256),
                new JWTClaimsSet.Builder().issuer(SharedCluster.JWT_ISSUER)
                        .audience(SharedCluster.JWT_AUDIENCE).subject(subject).claim("upn", "long@idp.test")
                        .claim("groups", List.of("submitter"))
                        .expirationTime(new Date(System.currentTimeMillis() + 300_000)).build());
        token.sign(new RSASSASigner(SharedCluster.JWT_KEYS.getPrivate()));
        TaskgridClient.Reply reply = api.withToken(token.serialize()).post("/tasks", "application/json",
                "{\"cmd\":\"echo from a long name\"}");
        assertThat(reply.status()).as(reply.body()).isEqualTo(202);
        assertThat(reply.json().getString("submittedBy")).startsWith("jwt:uuu").hasSizeLessThanOrEqualTo(128);
        assertThat(api.awaitFinal(reply.json().getString("id"), Duration.ofSeconds(30)).getString("state"))
                .isEqualTo("SUCCEEDED");
    }

    /**
     * Host is free text to a client that writes its own request (java.net.http will not send these), and the server
     * builds the request URI from it: before the check, each of these was a 500 with a 60-line stack trace in the log,
     * for a caller with no token.
     */
    @Test
    void aMalformedHostHeaderIsA400ProblemWithoutATokenAndLeavesNoStackTrace() throws Exception {
        Path messages = Path.of(SharedCluster.property("taskgrid.wlp.dir"), "usr/servers/taskgrid/logs/messages.log");
        long logBefore = Files.size(messages);
        URI base = URI.create(SharedCluster.config().apiBase());
        for (String host : List.of("a b", "x\\y", "\"q\"", "x]", "[zz]", "[::1")) {
            try (Socket socket = new Socket(base.getHost(), base.getPort())) {
                socket.setSoTimeout(10_000);
                socket.getOutputStream().write(("GET /tasks HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
                        .getBytes(StandardCharsets.ISO_8859_1));
                String reply = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertThat(reply).as(host).startsWith("HTTP/1.1 400").containsIgnoringCase("application/problem+json")
                        .contains("the Host header is not a host name");
            }
        }
        String added = Files.readString(messages).substring((int) logBefore);
        assertThat(added).doesNotContain("URISyntaxException").doesNotContain("SRVE0777E");
    }

    @Test
    void aListShowsSummariesAndTheOutputHasItsOwnResource() {
        String id = api.submitCmd("echo listed; echo to-err >&2");
        api.awaitFinal(id, Duration.ofSeconds(30));
        JsonObject summary = api.get("/tasks?limit=5").json().getJsonArray("tasks").getValuesAs(JsonObject.class)
                .stream().filter(t -> t.getString("id").equals(id)).findFirst().orElseThrow();
        assertThat(summary.keySet()).doesNotContain("stdout", "stderr", "env", "attempts")
                .contains("cmd", "cmdTruncated", "state", "exitCode", "attemptCount");
        assertThat(summary.getString("state")).isEqualTo("SUCCEEDED");

        TaskgridClient.Reply out = api.get("/tasks/" + id + "/output");
        assertThat(out.status()).isEqualTo(200);
        assertThat(out.contentType()).startsWith("text/plain");
        assertThat(out.body()).isEqualTo("listed\n");
        assertThat(out.header("Taskgrid-Output-Truncated")).isEqualTo("false");
        assertThat(api.get("/tasks/" + id + "/output?stream=stderr").body()).isEqualTo("to-err\n");
        TaskgridClient.Reply bad = api.get("/tasks/" + id + "/output?stream=both%0Aforged");
        assertThat(bad.status()).isEqualTo(400);
        assertThat(bad.json().getString("detail")).doesNotContain("\n");

        String longCmd = "echo " + "y".repeat(5000);
        String longId = api.submitCmd(longCmd);
        JsonObject listed = api.get("/tasks?limit=1").json().getJsonArray("tasks").getJsonObject(0);
        assertThat(listed.getString("id")).isEqualTo(longId);
        assertThat(listed.getBoolean("cmdTruncated")).isTrue();
        assertThat(listed.getString("cmd")).hasSize(1024);
        assertThat(api.task(longId).getString("cmd")).isEqualTo(longCmd);
        api.awaitFinal(longId, Duration.ofSeconds(30));
    }

    private TaskgridClient.Reply withKey(TaskgridClient client, String key, String body) {
        return client.send(HttpRequest.newBuilder(URI.create(api.base() + "/tasks"))
                .header("Content-Type", "application/json").header("Idempotency-Key", key)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build());
    }
}
