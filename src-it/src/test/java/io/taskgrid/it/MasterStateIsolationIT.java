package io.taskgrid.it;

import io.taskgrid.it.cluster.LocalCluster;
import io.taskgrid.it.cluster.ServerLayout;
import io.taskgrid.it.cluster.TaskUser;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The quick start's launcher, run as a newcomer runs it (its own JVM, its defaults, a server of its own), and a
 * submitter's task that goes for the master's state: the operator token the master handed over at its first start,
 * the tokens file it re-reads every second (one appended line would make the submitter an operator), the secret key,
 * the database, the log that printed the tokens, the agents' join token, and the checkout that builds it all. It must
 * reach none of it. (As root the launcher runs tasks as a user of their own; as anyone else it cannot, and says so:
 * {@code TaskUserTest}.)
 */
class MasterStateIsolationIT {

    private static final String SERVER = "taskgrid-quickstart";
    private static final Path WLP = Path.of(SharedCluster.property("taskgrid.wlp.dir"));
    private static final Path LOGS = Path.of(SharedCluster.property("taskgrid.log.dir")).resolve("quickstart");

    @Test
    void aSubmittersTaskInTheQuickStartCanNeitherReadNorChangeTheMastersStateNorTheCheckout() throws Exception {
        assumeTrue(TaskUser.isRootUser(), "only root can give tasks a user of their own");
        Path server = ServerLayout.copyOfBuildServer(WLP, SERVER, Map.of(), Map.of());
        Path state = LOGS.resolve("state");
        int httpPort = freePort();
        int grpcPort = freePort();
        Process launcher = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), LocalCluster.class.getName(),
                "--liberty", WLP.toString(), "--server", SERVER,
                "--agent-jar", SharedCluster.property("taskgrid.agent.jar"), "--workers", "1",
                "--http-port", Integer.toString(httpPort), "--grpc-port", Integer.toString(grpcPort),
                "--state-dir", state.toString())
                .redirectErrorStream(true).start();
        StringBuffer output = new StringBuffer();
        CountDownLatch up = new CountDownLatch(1);
        Thread reader = new Thread(() -> {
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(launcher.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = lines.readLine()) != null) {
                    output.append(line).append('\n');
                    // The summary's last line: every line about the cluster, who tasks run as included, is in.
                    if (line.startsWith("[cluster] Ctrl-C stops everything")) {
                        up.countDown();
                    }
                }
            } catch (java.io.IOException e) {
                // launcher gone
            }
        });
        reader.setDaemon(true);
        reader.start();
        try {
            assertThat(up.await(150, TimeUnit.SECONDS)).as("the quick start came up:\n%s", output).isTrue();
            assertThat(output).contains("[cluster] Tasks run as the user " + TaskUser.DEDICATED);
            probe(server, state, httpPort);
        } finally {
            launcher.toHandle().destroy();
            if (!launcher.waitFor(60, TimeUnit.SECONDS)) {
                launcher.descendants().forEach(ProcessHandle::destroyForcibly);
                launcher.destroyForcibly().waitFor();
            }
        }
    }

    private static void probe(Path server, Path state, int httpPort) throws Exception {
        Path project = Path.of(SharedCluster.property("taskgrid.project.dir")).toAbsolutePath().normalize();
        Path credentials = server.resolve("taskgrid-initial-credentials.txt");
        String operatorToken = Files.readAllLines(credentials).stream().filter(l -> l.startsWith("operator-token="))
                .findFirst().orElseThrow().substring("operator-token=".length());
        String joinToken = Files.readAllLines(credentials).stream().filter(l -> l.startsWith("join-token="))
                .findFirst().orElseThrow().substring("join-token=".length());
        TaskgridClient api = new TaskgridClient("http://localhost:" + httpPort, operatorToken);
        // The key file is made for the first secret.
        assertThat(api.awaitFinal(api.submit("{\"cmd\":\"true\",\"secretEnv\":{\"PASSWORD\":\"hunter2\"}}"),
                Duration.ofSeconds(60)).getString("state")).isEqualTo("SUCCEEDED");
        // What a task could plant must not be there before it tries (a run of this test with tasks as root left one).
        Files.deleteIfExists(project.resolve("planted-by-a-task"));
        Path tokens = server.resolve("taskgrid-tokens.properties");
        List<Path> secrets = List.of(credentials, tokens, server.resolve("taskgrid-secret.key"),
                server.resolve("taskgrid-db/taskgrid.mv.db"), server.resolve("logs/messages.log"),
                state.resolve("join-token"));
        // Each is there and holds what a submitter must not have: the test would prove nothing otherwise.
        for (Path file : secrets) {
            assertThat(file).isRegularFile();
        }
        assertThat(Files.readString(server.resolve("logs/messages.log"))).contains(operatorToken);
        String tokensBefore = Files.readString(tokens);

        List<String> probe = new ArrayList<>(List.of("echo uid=$(id -u)", "echo cwd=$(pwd)"));
        for (Path file : secrets) {
            probe.add("cat " + file + " > /dev/null && echo READ " + file);
        }
        probe.add("ls " + server + " > /dev/null && echo LISTED " + server);
        probe.add("echo 'api.me = operator:sha256:00' >> " + tokens + " && echo WROTE " + tokens);
        probe.add("echo x > " + project.resolve("planted-by-a-task") + " && echo WROTE " + project);
        probe.add("echo x > " + project.resolve("src-it/target/planted-by-a-task") + " && echo WROTE target");
        probe.add("true");
        JsonObject done = api.awaitFinal(api.submitCmd(String.join("; ", probe)), Duration.ofSeconds(60));
        String out = done.getString("stdout");
        String err = done.getString("stderr");

        assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
        assertThat(out).doesNotContain("READ ").doesNotContain("WROTE ").doesNotContain("LISTED ");
        assertThat(err).contains("Permission denied");
        assertThat(out + err).doesNotContain(operatorToken).doesNotContain(joinToken);
        assertThat(out).contains("uid=").doesNotContain("uid=0\n");
        String cwd = out.lines().filter(line -> line.startsWith("cwd=")).findFirst().orElseThrow().substring(4);
        assertThat(Path.of(cwd).toAbsolutePath().normalize().startsWith(project)).as("cwd %s", cwd).isFalse();
        assertThat(Files.readString(tokens)).isEqualTo(tokensBefore);
        assertThat(project.resolve("planted-by-a-task")).doesNotExist();
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(server))).isEqualTo("rwx------");
    }

    private static int freePort() throws Exception {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
