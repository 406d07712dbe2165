package io.taskgrid.it;

import jakarta.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The three MicroProfile Health endpoints of a running master: open without a token, UP, and saying what they
 * looked at. ({@code ReadinessOnPostgresIT} takes the database away and watches readiness go DOWN.)
 */
@ExtendWith(SharedCluster.class)
class HealthIT {

    private final TaskgridClient anonymous = SharedCluster.client().withToken(null);

    private JsonObject check(String path, String name) {
        TaskgridClient.Reply reply = anonymous.get(path);
        assertThat(reply.status()).as(path + ": " + reply.body()).isEqualTo(200);
        JsonObject body = reply.json();
        assertThat(body.getString("status")).isEqualTo("UP");
        JsonObject found = body.getJsonArray("checks").getValuesAs(JsonObject.class).stream()
                .filter(c -> c.getString("name").equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError(path + " has no check " + name + ": " + body));
        assertThat(found.getString("status")).isEqualTo("UP");
        return found;
    }

    @Test
    void liveReadyAndStartedAreUpAndSayWhatTheyChecked() {
        JsonObject live = check("/health/live", "taskgrid-dispatcher");
        assertThat(live.getJsonObject("data").getString("dispatcher")).isEqualTo("UP");
        assertThat(live.getJsonObject("data").getJsonNumber("queued").intValue()).isNotNegative();

        JsonObject ready = check("/health/ready", "taskgrid-ready");
        assertThat(ready.getJsonObject("data").getString("grpc")).isEqualTo("UP");
        assertThat(ready.getJsonObject("data").getString("database")).isEqualTo("UP");

        check("/health/started", "taskgrid-started");
        assertThat(anonymous.get("/health").status()).as("all three together").isEqualTo(200);
    }
}
