package io.taskgrid.it;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The release archive as an operator installs it: the archive and its checksums check out, it holds what INSTALL.md
 * says, and the one-file master from it ({@code java -jar taskgrid-master.jar}, settings from the environment) starts
 * on the embedded database and prints its tokens; an agent and the command line from the same archive run a task
 * through it. Then the master is stopped and started again, because Liberty deletes its unpacked copy on every stop:
 * the task, the tokens and the database must have been kept outside it, in {@code TASKGRID_HOME}.
 */
class ReleaseArchiveIT {

    private static final Duration START = Duration.ofMinutes(2);
    private static final Pattern OPERATOR = Pattern.compile("Operator API token:\\s+(tgo_\\S+)");
    private static final Pattern JOIN = Pattern.compile("Agent join token:\\s+(tgj_\\S+)");

    @TempDir
    Path dir;

    private final List<Process> started = new ArrayList<>();

    @AfterEach
    void stopEverything() throws InterruptedException {
        for (Process process : started) {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void theOneFileMasterFromTheArchiveRunsATaskAndKeepsItAcrossARestart() throws Exception {
        Path releaseDir = Path.of(SharedCluster.property("taskgrid.release.dir"));
        Path archive;
        try (Stream<Path> files = Files.list(releaseDir)) {
            archive = files.filter(f -> f.getFileName().toString().matches("taskgrid-.+\\.tar\\.gz")).findFirst()
                    .orElseThrow(() -> new AssertionError("no taskgrid-*.tar.gz in " + releaseDir));
        }
        String name = archive.getFileName().toString().replace(".tar.gz", "");
        assertThat(run(releaseDir, "sha256sum", "-c", name + ".tar.gz.sha256").exit).isZero();
        assertThat(run(dir, "tar", "-xzf", archive.toString()).exit).isZero();
        Path installed = dir.resolve(name);

        // INSTALL.md's first command, as written; then every file is in the checksums and named in INSTALL.md.
        assertThat(run(installed, "sh", "-c", "sha256sum -c SHA256SUMS").exit).isZero();
        String sums = Files.readString(installed.resolve("SHA256SUMS"));
        String install = Files.readString(installed.resolve("INSTALL.md"));
        for (String file : List.of("taskgrid-master.jar", "master.war", "worker-agent.jar", "taskgrid", "taskgrid.jar",
                "systemd/taskgrid-master.service", "systemd/taskgrid-agent.service", "server-config/server.xml")) {
            assertThat(installed.resolve(file)).as(file).isRegularFile();
            assertThat(sums).as("SHA256SUMS").containsPattern("  " + Pattern.quote(file) + "\n");
            assertThat(install).as("INSTALL.md names " + file).contains("`" + file.replace("server-config/server.xml",
                    "server-config/"));
        }
        assertThat(Files.isExecutable(installed.resolve("taskgrid"))).isTrue();

        int http = freePort();
        int grpc = freePort();
        Path home = dir.resolve("master-home");
        Path extract = dir.resolve("extract");
        Map<String, String> masterEnv = Map.of("TASKGRID_HOME", home.toString(), "TASKGRID_HTTP_PORT",
                Integer.toString(http), "TASKGRID_GRPC_PORT", Integer.toString(grpc), "WLP_JAR_EXTRACT_ROOT",
                extract.toString());
        Path firstLog = dir.resolve("master-1.log");
        Process master = start(installed, masterEnv, firstLog, "java", "-Xmx512m", "-jar", "taskgrid-master.jar");
        String base = "http://localhost:" + http;
        awaitReady(base, master, firstLog);
        String printed = Files.readString(firstLog);
        String operator = group(OPERATOR, printed, firstLog);
        String join = group(JOIN, printed, firstLog);
        assertThat(Files.readString(home.resolve("taskgrid-initial-credentials.txt"))).contains(operator, join);
        assertThat(Files.getPosixFilePermissions(home)).isEqualTo(PosixFilePermissions.fromString("rwx------"));

        Path joinToken = dir.resolve("join-token");
        Files.writeString(joinToken, join + "\n");
        Files.setPosixFilePermissions(joinToken, PosixFilePermissions.fromString("rw-------"));
        start(installed, Map.of(), dir.resolve("agent.log"), "java", "-jar", "worker-agent.jar", "--id", "release-1",
                "--master", "localhost:" + grpc, "--token-file", joinToken.toString(), "--state-dir",
                dir.resolve("agent-state").toString());
        TaskgridClient api = new TaskgridClient(base, operator);
        poll(START, Duration.ofMillis(200)).alias("the archive's agent connected").until(() -> api.workers().size() == 1);

        // The command line from the archive, its token in the config file INSTALL.md describes.
        Path cliHome = Files.createDirectories(dir.resolve("cli-home"));
        Path config = Files.createDirectories(cliHome.resolve(".config/taskgrid")).resolve("config");
        Files.writeString(config, "url=" + base + "\ntoken=" + operator + "\n");
        Files.setPosixFilePermissions(config, PosixFilePermissions.fromString("rw-------"));
        Ran ran = run(installed, Map.of("HOME", cliHome.toString()), "./taskgrid", "run", "--", "echo hi; exit 3");
        assertThat(ran.stdout).isEqualTo("hi\n");
        assertThat(ran.exit).as(ran.stderr).isEqualTo(3);
        String id = api.newestTaskId();

        master.destroy(); // SIGTERM, as systemd and Ctrl-C stop it
        assertThat(master.waitFor(90, TimeUnit.SECONDS)).as("the master stopped on SIGTERM").isTrue();
        assertThat(serverDirectories(extract)).as("Liberty removed its unpacked server: nothing may be kept there")
                .isEmpty();

        Path secondLog = dir.resolve("master-2.log");
        Process again = start(installed, masterEnv, secondLog, "java", "-Xmx512m", "-jar", "taskgrid-master.jar");
        awaitReady(base, again, secondLog);
        assertThat(Files.readString(secondLog)).as("no new tokens on a second start").doesNotContain("tgo_", "tgj_");
        var task = api.task(id);
        assertThat(task.getString("state")).isEqualTo("FAILED");
        assertThat(task.getInt("exitCode")).isEqualTo(3);
        assertThat(task.getString("stdout")).isEqualTo("hi\n");
    }

    private record Ran(int exit, String stdout, String stderr) {
    }

    private static Ran run(Path in, String... command) throws Exception {
        return run(in, Map.of(), command);
    }

    private static Ran run(Path in, Map<String, String> env, String... command) throws Exception {
        ProcessBuilder builder = new ProcessBuilder(command).directory(in.toFile());
        builder.environment().remove("TASKGRID_URL");
        builder.environment().remove("TASKGRID_TOKEN");
        builder.environment().putAll(env);
        Path out = Files.createTempFile("release-out", ".txt");
        Path err = Files.createTempFile("release-err", ".txt");
        Process process = builder.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        assertThat(process.waitFor(2, TimeUnit.MINUTES)).as(String.join(" ", command) + " ended").isTrue();
        Ran ran = new Ran(process.exitValue(), Files.readString(out), Files.readString(err));
        Files.delete(out);
        Files.delete(err);
        return ran;
    }

    private Process start(Path in, Map<String, String> env, Path log, String... command) throws IOException {
        ProcessBuilder builder = new ProcessBuilder(command).directory(in.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        builder.environment().putAll(env);
        Process process = builder.start();
        started.add(process);
        return process;
    }

    private static void awaitReady(String base, Process master, Path log) {
        TaskgridClient anonymous = new TaskgridClient(base, null);
        poll(START, Duration.ofMillis(250)).alias("the one-file master ready (log: " + log + ")").until(() -> {
            assertThat(master.isAlive()).as("the master is running; its output:\n" + Files.readString(log)).isTrue();
            try {
                return anonymous.get("/health/ready").status() == 200;
            } catch (UncheckedIOException notYet) {
                return false;
            }
        });
    }

    private static String group(Pattern pattern, String text, Path log) {
        Matcher matcher = pattern.matcher(text);
        assertThat(matcher.find()).as(pattern + " in " + log).isTrue();
        return matcher.group(1);
    }

    /** The unpacked Liberty servers under {@code root} that still hold anything besides logs. */
    private static List<Path> serverDirectories(Path root) throws IOException {
        if (!Files.exists(root)) {
            return List.of();
        }
        try (Stream<Path> paths = Files.walk(root)) {
            return paths.filter(p -> p.getFileName().toString().equals("taskgrid-db")
                    || p.getFileName().toString().equals("taskgrid-tokens.properties")
                    || p.getFileName().toString().equals("apps")).toList();
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }
}
