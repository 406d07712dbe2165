package io.taskgrid.it;

import jakarta.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** A secretEnv reaches the command and nothing else: not the API, not the logs, not the database files. */
@ExtendWith(SharedCluster.class)
class SecretEnvIT {

    private final TaskgridClient api = SharedCluster.client();

    @Test
    void aSecretReachesTheCommandButNoResponseLogOrDatabaseFile() throws Exception {
        String secret = "s3cr3t-" + UUID.randomUUID();
        String id = api.submit("{\"cmd\": \"printf %s \\\"$DEPLOY_TOKEN\\\" | sha256sum | cut -c1-64\","
                + " \"secretEnv\": {\"DEPLOY_TOKEN\": \"" + secret + "\"}}");
        JsonObject done = api.awaitFinal(id, Duration.ofSeconds(30));
        String expected = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                .digest(secret.getBytes(StandardCharsets.UTF_8)));
        assertThat(done.getString("stdout").trim()).as("the command saw the secret").isEqualTo(expected);

        assertThat(api.get("/tasks/" + id).body()).doesNotContain(secret);
        assertThat(api.get("/tasks?limit=5").body()).doesNotContain(secret);

        Path wlp = Path.of(SharedCluster.property("taskgrid.wlp.dir"));
        Path logs = Path.of(SharedCluster.property("taskgrid.log.dir"));
        Path server = wlp.resolve("usr/servers/taskgrid");
        byte[] needle = secret.getBytes(StandardCharsets.UTF_8);
        for (Path root : List.of(logs, server.resolve("logs"), server.resolve("taskgrid-db"))) {
            // The cluster's own logs (master.log, w1.log, ...) lie at the top of the log folder.
            try (Stream<Path> files = root.equals(logs) ? Files.list(root) : Files.walk(root)) {
                for (Path file : files.filter(Files::isRegularFile).toList()) {
                    assertThat(contains(file, needle)).as("secret in clear in " + file).isFalse();
                }
            }
        }
    }

    private static boolean contains(Path file, byte[] needle) throws IOException {
        byte[] hay = Files.readAllBytes(file);
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return true;
        }
        return false;
    }
}
