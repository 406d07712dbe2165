package io.taskgrid.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A second Liberty server in the build's installation, laid out like the build's own (server-config, master.war, the
 * Derby jars), with settings of its own in server.env: for tests that need a master configured differently from the
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

    private void layOut(String... serverEnv) throws Exception {
        deleteTree(dir);
        command("create");
        Path build = wlp.resolve("usr/servers/taskgrid");
        for (String file : List.of("server.xml", "jvm.options", "bootstrap.properties")) {
            Files.copy(build.resolve(file), dir.resolve(file), StandardCopyOption.REPLACE_EXISTING);
        }
        Files.createDirectories(dir.resolve("apps"));
        Files.copy(build.resolve("apps/master.war"), dir.resolve("apps/master.war"));
        Files.createDirectories(dir.resolve("jdbc"));
        for (String jar : List.of("derby.jar", "derbyshared.jar", "derbytools.jar")) {
            Files.copy(build.resolve("jdbc/" + jar), dir.resolve("jdbc/" + jar));
        }
        // server create leaves server.env without a final newline.
        Files.writeString(dir.resolve("server.env"), "\n" + String.join("\n", serverEnv) + "\n", StandardOpenOption.APPEND);
    }

    private void command(String action) throws IOException, InterruptedException {
        run(wlp.resolve("bin/server").toString(), action, name);
    }

    static void run(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes());
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
