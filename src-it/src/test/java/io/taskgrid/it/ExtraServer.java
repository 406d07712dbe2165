package io.taskgrid.it;

import io.taskgrid.it.cluster.ServerLayout;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A second Liberty server in the build's installation, laid out like the build's own (server-config, master.war, the
 * JDBC drivers), with settings of its own in server.env: for tests that need a master configured differently from the
 * shared cluster's.
 */
final class ExtraServer {

    private final Path wlp = Path.of(SharedCluster.property("taskgrid.wlp.dir"));
    private final String name;
    private final Path dir;

    private ExtraServer(String name) {
        this.name = name;
        this.dir = wlp.resolve("usr/servers/" + name);
    }

    /** Creates the server afresh (an earlier run's is removed) and starts it with these server.env lines. */
    static ExtraServer start(String name, String... serverEnv) throws Exception {
        ExtraServer server = new ExtraServer(name);
        server.layOut(serverEnv);
        server.command("start");
        return server;
    }

    Path dir() {
        return dir;
    }

    void stop() throws Exception {
        command("stop");
    }

    private void layOut(String... serverEnv) {
        Map<String, String> env = new LinkedHashMap<>();
        for (String line : serverEnv) {
            env.put(line.substring(0, line.indexOf('=')), line.substring(line.indexOf('=') + 1));
        }
        ServerLayout.copyOfBuildServer(wlp, name, Map.of(), env);
    }

    private void command(String action) throws IOException, InterruptedException {
        run(wlp.resolve("bin/server").toString(), action, name);
    }

    static void run(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).as(String.join(" ", command) + "\n" + output).isZero();
    }

    static void deleteTree(Path dir) throws IOException {
        if (Files.exists(dir)) {
            try (Stream<Path> paths = Files.walk(dir)) {
                for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(path);
                }
            }
        }
    }
}
