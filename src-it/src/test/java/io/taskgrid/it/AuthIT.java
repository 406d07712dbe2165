package io.taskgrid.it;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import io.taskgrid.it.cluster.LocalCluster;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Date;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;

/** Who may do what, against the real master: API tokens and roles, agent join tokens, rotation. */
@ExtendWith(SharedCluster.class)
class AuthIT {

    private static final String VIEWER = "tgv_" + UUID.randomUUID();
    private static final String SUBMITTER = "tgs_" + UUID.randomUUID();
    private static final String ROTATED_JOIN = "tgj_" + UUID.randomUUID();

    private final LocalCluster cluster = SharedCluster.cluster();
    private final TaskgridClient operator = SharedCluster.client();
    private final TaskgridClient anonymous = operator.withToken(null);

    @TempDir
    Path dir;

    private static Path tokensFile() {
        return Path.of(SharedCluster.property("taskgrid.wlp.dir"), "usr/servers/taskgrid/taskgrid-tokens.properties");
    }

    private static String sha256(String token) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8)));
    }

    @BeforeAll
    static void addTokensTheWayTheReadmeSays() throws Exception {
        Files.writeString(tokensFile(), String.join("\n",
                "api.viewer-it = viewer:sha256:" + sha256(VIEWER),
                "api.submitter-it = submitter:sha256:" + sha256(SUBMITTER),
                "join.rotated-it = sha256:" + sha256(ROTATED_JOIN), ""), StandardOpenOption.APPEND);
        // Fixed wait: the master looks at the file again on the first request a second after its last look, so
        // once 1.5 s have passed the next request is sure to find these tokens.
        TaskgridClient.sleep(1500);
    }

    private TaskgridClient.Reply call(TaskgridClient client, String method, String path, String body) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(cluster.config().apiBase() + path))
                .header("Content-Type", "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        return client.send(request.build());
    }

    @Test
    void everyEndpointNeedsAValidTokenAndSaysSoInProblemJson() {
        String id = operator.submitCmd("true");
        List<String[]> endpoints = List.of(new String[]{"GET", "/tasks"}, new String[]{"GET", "/tasks/" + id},
                new String[]{"POST", "/tasks"}, new String[]{"DELETE", "/tasks/" + id}, new String[]{"GET", "/workers"},
                new String[]{"POST", "/workers/w1/drain"}, new String[]{"GET", "/nothing-here"});
        for (String[] endpoint : endpoints) {
            String body = endpoint[0].equals("POST") ? "{\"cmd\":\"true\"}" : null;
            TaskgridClient.Reply none = call(anonymous, endpoint[0], endpoint[1], body);
            assertThat(none.status()).as(endpoint[0] + " " + endpoint[1]).isEqualTo(401);
            assertThat(none.header("WWW-Authenticate")).startsWith("Bearer");
            assertThat(none.contentType()).startsWith("application/problem+json");

            String wrong = "tgo_not-a-real-token";
            TaskgridClient.Reply bad = call(anonymous.withToken(wrong), endpoint[0], endpoint[1], body);
            assertThat(bad.status()).isEqualTo(401);
            assertThat(bad.header("WWW-Authenticate")).contains("invalid_token");
            assertThat(bad.body()).doesNotContain(wrong);
        }
        assertThat(anonymous.get("/health/ready").status()).as("health stays open").isEqualTo(200);
    }

    @Test
    void eachRoleMayDoWhatItShouldAndNoMore() {
        TaskgridClient viewer = operator.withToken(VIEWER);
        TaskgridClient submitter = operator.withToken(SUBMITTER);
        String operatorsTask = operator.submitCmd("sleep 20");

        assertThat(viewer.get("/tasks/" + operatorsTask).status()).isEqualTo(200);
        assertThat(viewer.get("/workers").status()).isEqualTo(200);
        TaskgridClient.Reply viewerPost = viewer.post("/tasks", "application/json", "{\"cmd\":\"true\"}");
        assertThat(viewerPost.status()).isEqualTo(403);
        assertThat(viewerPost.json().getString("detail")).contains("submitter");

        TaskgridClient.Reply submitted = submitter.post("/tasks", "application/json", "{\"cmd\":\"sleep 20\"}");
        assertThat(submitted.status()).isEqualTo(202);
        JsonObject own = submitted.json();
        assertThat(own.getString("submittedBy")).isEqualTo("submitter-it");
        assertThat(operator.task(operatorsTask).getString("submittedBy")).isEqualTo("operator");
        assertThat(call(submitter, "DELETE", "/tasks/" + operatorsTask, null).status()).isEqualTo(403);
        assertThat(call(submitter, "DELETE", "/tasks/" + own.getString("id"), null).status()).isIn(200, 202);
        assertThat(call(submitter, "POST", "/workers/w1/drain", "").status()).isEqualTo(403);

        assertThat(call(operator, "DELETE", "/tasks/" + operatorsTask, null).status()).isIn(200, 202);
        assertThat(operator.awaitFinal(operatorsTask, Duration.ofSeconds(30)).getString("state")).isEqualTo("CANCELLED");
        assertThat(operator.awaitFinal(own.getString("id"), Duration.ofSeconds(30)).getString("state")).isEqualTo("CANCELLED");
    }

    private static String jwt(KeyPair keys, String issuer, List<String> groups, long expiresInSeconds)
            throws Exception {
        SignedJWT token = new SignedJWT(
                new JWSHeader(JWSAlgorithm.RS256),
                new JWTClaimsSet.Builder().issuer(issuer).audience(SharedCluster.JWT_AUDIENCE)
                        .subject("alice").claim("upn", "alice@idp.test")
                        .claim("groups", groups)
                        .expirationTime(new Date(System.currentTimeMillis() + expiresInSeconds * 1000)).build());
        token.sign(new RSASSASigner(keys.getPrivate()));
        return token.serialize();
    }

    @Test
    void jwtsFromTheIdentityProviderCarryTheirRoleAndBadOnesAreRefused() throws Exception {
        TaskgridClient alice = operator.withToken(jwt(SharedCluster.JWT_KEYS, SharedCluster.JWT_ISSUER, List.of("submitter"), 300));
        TaskgridClient.Reply submitted = alice.post("/tasks", "application/json", "{\"cmd\":\"echo via jwt\"}");
        assertThat(submitted.status()).isEqualTo(202);
        // The subject at its issuer, not the upn: a display name may be two people's.
        assertThat(submitted.json().getString("submittedBy")).isEqualTo("jwt:alice@" + SharedCluster.JWT_ISSUER);
        assertThat(call(alice, "POST", "/workers/w1/drain", "").status()).isEqualTo(403);

        KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
        generator.initialize(2048);
        for (String bad : List.of(jwt(SharedCluster.JWT_KEYS, SharedCluster.JWT_ISSUER, List.of("operator"), -120),
                jwt(generator.generateKeyPair(), SharedCluster.JWT_ISSUER, List.of("operator"), 300),
                jwt(SharedCluster.JWT_KEYS, "https://someone-else.test", List.of("operator"), 300))) {
            TaskgridClient.Reply reply = operator.withToken(bad).get("/workers");
            assertThat(reply.status()).isEqualTo(401);
            assertThat(reply.header("WWW-Authenticate")).contains("invalid_token");
        }
        TaskgridClient.Reply noRole = operator.withToken(
                jwt(SharedCluster.JWT_KEYS, SharedCluster.JWT_ISSUER, List.of("staff"), 300)).get("/workers");
        assertThat(noRole.status()).isEqualTo(403);
        operator.awaitFinal(submitted.json().getString("id"), Duration.ofSeconds(30));
    }

    @Test
    void agentsWithoutAValidJoinTokenGetNothingAndARotatedTokenWorks() throws Exception {
        int before = cluster.connectedWorkers();
        Path noTokenLog = dir.resolve("none.log");
        Path wrongLog = dir.resolve("wrong.log");
        Process none = agent("intruder-1", null, noTokenLog);
        Process wrong = agent("intruder-2", "tgj_wrong", wrongLog);
        Process rotated = agent("rotated-1", ROTATED_JOIN, dir.resolve("rotated.log"));
        try {
            cluster.awaitWorkers(before + 1, Duration.ofSeconds(30));
            assertThat(operator.workers()).extracting(w -> w.getString("id"))
                    .contains("rotated-1").doesNotContain("intruder-1", "intruder-2");
            awaitLogLine(noTokenLog, "refused this agent");
            awaitLogLine(wrongLog, "refused this agent");
            assertThat(Files.readString(noTokenLog)).contains("no join token");
            assertThat(Files.readString(wrongLog)).contains("not valid").doesNotContain("tgj_wrong");
        } finally {
            for (Process p : List.of(none, wrong, rotated)) {
                p.destroy();
                p.waitFor(30, TimeUnit.SECONDS);
            }
        }
        cluster.awaitWorkers(before, Duration.ofSeconds(30));
    }

    @Test
    void tokensAppearNowhereButTheFirstStartBanner() throws Exception {
        Path messages = Path.of(SharedCluster.property("taskgrid.wlp.dir"), "usr/servers/taskgrid/logs/messages.log");
        String log = Files.readString(messages);
        assertThat(log).doesNotContain(VIEWER).doesNotContain(SUBMITTER).doesNotContain(ROTATED_JOIN);
        // The first-start banner shows each token twice (the token, and a ready command line); nothing else may.
        assertThat(count(log, cluster.apiToken())).isLessThanOrEqualTo(2);
        assertThat(count(log, cluster.joinToken())).isLessThanOrEqualTo(2);
        assertThat(Files.readString(tokensFile())).doesNotContain(cluster.apiToken()).doesNotContain(cluster.joinToken());
        assertThat(operator.get("/workers").body()).doesNotContain(cluster.joinToken());
    }

    private static int count(String text, String needle) {
        int n = 0;
        for (int i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + 1)) {
            n++;
        }
        return n;
    }

    /** An agent with {@code token} as its join token, or with none at all when it is null. */
    private Process agent(String id, String token, Path log) throws Exception {
        return AgentProcess.agent().id(id).master(cluster.config().grpcTarget())
                .args("--reconnect-delay", "500ms", "--state-dir", dir.resolve(id).toString())
                .joinToken(token).log(log).start();
    }

    private static void awaitLogLine(Path log, String text) {
        poll(Duration.ofSeconds(20), Duration.ofMillis(100)).alias(log + " says '" + text + "'")
                .until(() -> Files.exists(log) && Files.readString(log).contains(text));
    }
}
