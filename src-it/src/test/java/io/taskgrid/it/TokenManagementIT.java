package io.taskgrid.it;

import jakarta.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Tokens an operator makes through the API: the secret shown once, the token the role it was made with and nothing
 * more, listed without secrets with when it was last used, refused the moment it is revoked or expires. And who
 * cancelled a task, and who drained a worker, are on the record.
 */
@ExtendWith(SharedCluster.class)
class TokenManagementIT {

    private final TaskgridClient operator = SharedCluster.client();

    private JsonObject create(String body) {
        TaskgridClient.Reply reply = operator.post("/tokens", "application/json", body);
        assertThat(reply.status()).as(reply.body()).isEqualTo(201);
        return reply.json();
    }

    @Test
    void aTokenIsWhatItWasMadeForAndStopsWorkingTheMomentItIsRevoked() {
        String name = "it-ci-" + UUID.randomUUID().toString().substring(0, 8);
        JsonObject created = create("{\"name\": \"" + name + "\", \"role\": \"submitter\", \"expiresInDays\": 1}");
        String secret = created.getString("secret");
        String id = created.getJsonObject("token").getString("id");
        assertThat(secret).startsWith("tgt_");
        assertThat(created.getJsonObject("token").getString("role")).isEqualTo("submitter");

        TaskgridClient submitter = operator.withToken(secret);
        String task = submitter.submitCmd("true");
        assertThat(operator.task(task).getString("submittedBy")).isEqualTo(name);
        assertThat(submitter.get("/tokens").status()).as("a submitter makes and sees no tokens").isEqualTo(403);
        assertThat(submitter.post("/tokens", "application/json", "{\"name\": \"x\", \"role\": \"operator\"}").status())
                .as("nor makes itself an operator").isEqualTo(403);
        assertThat(submitter.post("/workers/none/drain", "application/json", "{}").status()).isEqualTo(403);

        TaskgridClient.Reply list = operator.get("/tokens?limit=1000");
        assertThat(list.status()).isEqualTo(200);
        assertThat(list.body()).doesNotContain(secret);
        JsonObject listed = list.json().getJsonArray("tokens").getValuesAs(JsonObject.class).stream()
                .filter(t -> t.getString("id").equals(id)).findFirst().orElseThrow();
        assertThat(listed.getString("name")).isEqualTo(name);
        assertThat(listed.getString("createdBy")).isEqualTo("operator");
        assertThat(listed.getBoolean("active")).isTrue();
        assertThat(listed.getString("lastUsedAt")).as("it was used a moment ago").isNotNull();

        TaskgridClient.Reply revoked = operator.delete("/tokens/" + id);
        assertThat(revoked.status()).as(revoked.body()).isEqualTo(200);
        assertThat(revoked.json().getString("revokedBy")).isEqualTo("operator");
        assertThat(revoked.json().getBoolean("active")).isFalse();
        assertThat(submitter.get("/tasks?limit=1").status()).as("refused at once").isEqualTo(401);
    }

    @Test
    void anExpiredTokenIsRefused() {
        Instant soon = Instant.now().plusSeconds(3);
        JsonObject created = create("{\"name\": \"it-short\", \"role\": \"viewer\", \"expiresAt\": \"" + soon + "\"}");
        TaskgridClient viewer = operator.withToken(created.getString("secret"));
        assertThat(viewer.get("/tasks?limit=1").status()).isEqualTo(200);
        assertThat(viewer.post("/tasks", "application/json", "{\"cmd\": \"true\"}").status()).isEqualTo(403);
        TaskgridClient.sleep(Duration.between(Instant.now(), soon).toMillis() + 300);
        assertThat(viewer.get("/tasks?limit=1").status()).isEqualTo(401);
    }

    @Test
    void aBadRequestForATokenIsA400ThatSaysWhy() {
        for (String[] bad : List.of(
                new String[] {"{\"name\": \"jwt:alice\", \"role\": \"operator\"}", "'name' must be"},
                new String[] {"{\"name\": \"ok\", \"role\": \"admin\"}", "'role' must be viewer, submitter or operator"},
                new String[] {"{\"name\": \"ok\", \"role\": \"viewer\", \"secret\": \"mine\"}", "unknown field 'secret'"},
                new String[] {"{\"name\": \"ok\", \"role\": \"viewer\", \"expiresInDays\": 1e9}", "'expiresInDays' must be"},
                new String[] {"{\"name\": \"ok\", \"role\": \"viewer\", \"expiresAt\": \"2000-01-01T00:00:00Z\"}",
                        "in the future"},
                new String[] {"{\"name\": \"ok\", \"role\": \"viewer\", \"expiresAt\": \"tomorrow\"}", "'expiresAt' must be"},
                new String[] {"{\"name\": \"ok\", \"role\": \"viewer\", \"expiresAt\": \"+1000000000-12-31T23:59:59Z\"}",
                        "'expiresAt' must be"},
                new String[] {"[1]", "must be a JSON object"})) {
            TaskgridClient.Reply reply = operator.post("/tokens", "application/json", bad[0]);
            assertThat(reply.status()).as(bad[0] + " -> " + reply.body()).isEqualTo(400);
            assertThat(reply.contentType()).startsWith("application/problem+json");
            assertThat(reply.json().getString("detail")).contains(bad[1]);
        }
        assertThat(operator.get("/tokens?limit=0").status()).isEqualTo(400);
        // A name is one caller: neither the tokens file's operator, nor one name with two roles.
        TaskgridClient.Reply fileName = operator.post("/tokens", "application/json",
                "{\"name\": \"operator\", \"role\": \"submitter\"}");
        assertThat(fileName.status()).as(fileName.body()).isEqualTo(409);
        assertThat(fileName.json().getString("detail")).contains("names a token of the tokens file");
        create("{\"name\": \"it-one-role\", \"role\": \"viewer\"}");
        create("{\"name\": \"it-one-role\", \"role\": \"viewer\"}");
        TaskgridClient.Reply twoRoles = operator.post("/tokens", "application/json",
                "{\"name\": \"it-one-role\", \"role\": \"operator\"}");
        assertThat(twoRoles.status()).as(twoRoles.body()).isEqualTo(409);
        assertThat(twoRoles.json().getString("detail")).contains("already names an active viewer token");
        assertThat(operator.get("/tokens?cursor=../../x").status()).isEqualTo(400);
    }

    @Test
    void whoCancelledATaskAndWhoDrainedAWorkerAreOnTheRecordAndInTheLog() throws Exception {
        JsonObject created = create("{\"name\": \"it-owner\", \"role\": \"submitter\"}");
        TaskgridClient owner = operator.withToken(created.getString("secret"));
        // Waits for a label no worker has, so it is still queued when the operator cancels it.
        String task = owner.submit("{\"cmd\": \"true\", \"requires\": {\"pool\": \"nowhere\"}}");
        TaskgridClient.Reply cancelled = operator.delete("/tasks/" + task);
        assertThat(cancelled.status()).as(cancelled.body()).isEqualTo(200);
        JsonObject view = operator.task(task);
        assertThat(view.getString("state")).isEqualTo("CANCELLED");
        assertThat(view.getString("cancelledBy")).isEqualTo("operator");
        assertThat(view.getString("submittedBy")).isEqualTo("it-owner");

        String target = SharedCluster.cluster().config().grpcTarget();
        try (FakeAgent agent = FakeAgent.register(target, SharedCluster.cluster().joinToken(), "it-drained", 1,
                List.of(), null)) {
            agent.firstCommand();
            TaskgridClient.Reply drained = operator.post("/workers/it-drained/drain", "application/json", "{}");
            assertThat(drained.status()).as(drained.body()).isEqualTo(200);
            assertThat(drained.json().getString("drainedBy")).isEqualTo("operator");
            assertThat(drained.json().getString("drainReason")).isEqualTo("drained by operator");
        }
        Path log = Path.of(SharedCluster.property("taskgrid.log.dir")).resolve("master.log");
        String text = Files.readString(log);
        assertThat(text).contains("task " + task + " cancelled by operator while queued")
                .contains("worker it-drained drained by operator")
                .contains("API token " + created.getJsonObject("token").getString("id") + " (it-owner, submitter) made by "
                        + "operator");
    }
}
