package io.taskgrid.it;

import jakarta.json.JsonObject;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The container images of the release and the compose file that runs them (src-it/docker/release), used the way its
 * header tells a newcomer to: the images built from the release directory by build-release-images.sh, the master
 * started, its join token stored in a file the agents get as a compose secret, two agents, tasks submitted to the
 * published REST port. It checks what the images promise and nothing else covers: a task runs as an unprivileged user,
 * cannot read the agent's join token, and what it leaves behind is reaped by tini, PID 1; and its result comes back
 * through the master. A compose project of its own ({@code taskgrid-img-<random>}) on a free port, torn down with its
 * volumes whatever happens; it needs no shared cluster. Skipped without a Docker engine or docker-compose.
 */
class ContainerImagesIT {

    private static final Duration COMMAND_TIMEOUT = Duration.ofMinutes(3);
    /** Image builds take this long at most (the first one installs tini from Debian; later ones hit the cache). */
    private static final Duration BUILD_TIMEOUT = Duration.ofMinutes(15);
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final String TASK_USER_UID = "10001";
    private static final String TOKEN_FILE_IN_AGENT = "/etc/taskgrid-agent/join-token";
    private static final String CREDENTIALS = "/var/lib/taskgrid/taskgrid-initial-credentials.txt";
    private static final int AGENTS = 2;

    private static final String PROJECT = "taskgrid-img-" + UUID.randomUUID().toString().substring(0, 8);
    /** docker-compose (or docker compose) with this test's project name and the compose file. */
    private static List<String> compose;
    private static Path work;
    private static Path logs;
    private static Map<String, String> composeEnv;
    private static boolean started;
    private static String joinToken;
    private static TaskgridClient api;

    @BeforeAll
    static void buildImagesAndStartTheComposeProject() throws IOException {
        assumeTrue(run(List.of("docker", "info"), Map.of(), Duration.ofSeconds(30)).ok(),
                "no Docker engine here (sudo bash .ci/start-docker.sh starts one)");
        List<String> tool = composeCommand();
        assumeTrue(tool != null, "neither docker-compose nor docker compose is installed (apt-get install "
                + "docker-compose)");
        Path project = Path.of(SharedCluster.property("taskgrid.project.dir")).toAbsolutePath().normalize();
        Path release = releaseDirectory(Path.of(SharedCluster.property("taskgrid.release.dir")));
        String version = release.getFileName().toString().substring("taskgrid-".length());
        logs = Path.of(SharedCluster.property("taskgrid.log.dir")).resolve("container-images");
        Files.createDirectories(logs);

        long buildStart = System.nanoTime();
        Result build = run(List.of("bash", project.resolve("src-it/docker/build-release-images.sh").toString(),
                release.toString()), Map.of(), BUILD_TIMEOUT);
        assertThat(build.ok()).as("build-release-images.sh: %s", build.output()).isTrue();
        System.out.printf("[images] taskgrid/master:%s and taskgrid/agent:%s built in %d s%n", version, version,
                TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - buildStart));

        work = Files.createTempDirectory(PROJECT);
        Path tokenFile = work.resolve("join-token");
        int httpPort = freePort();
        composeEnv = Map.of("TASKGRID_VERSION", version, "TASKGRID_HTTP_PUBLISH", "127.0.0.1:" + httpPort,
                "TASKGRID_JOIN_TOKEN_FILE", tokenFile.toString());
        compose = new ArrayList<>(tool);
        compose.addAll(List.of("-p", PROJECT, "-f",
                project.resolve("src-it/docker/release/docker-compose.yml").toString()));

        started = true;
        composeOk("up", "-d", "master");
        awaitHealthyMaster();
        String operatorToken = credential("operator-token");
        joinToken = credential("join-token");
        Files.writeString(Files.createFile(tokenFile,
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))), joinToken + "\n");
        composeOk("up", "-d", "--scale", "agent=" + AGENTS);
        api = new TaskgridClient("http://127.0.0.1:" + httpPort, operatorToken);
        try {
            Polling.poll(WAIT, Duration.ofMillis(250)).until(() -> api.workers().size() == AGENTS);
        } catch (ConditionTimeoutException e) {
            throw new AssertionError(AGENTS + " agents did not join within " + WAIT.toSeconds() + " s: "
                    + composeOutput("logs", "--no-color", "agent"), e);
        }
    }

    @AfterAll
    static void tearDown() throws IOException {
        try {
            if (started) {
                try {
                    Files.writeString(logs.resolve(PROJECT + ".log"),
                            compose("logs", "--no-color", "--timestamps").output());
                } finally {
                    Result down = compose("down", "-v", "--remove-orphans", "--timeout", "20");
                    assertThat(down.ok()).as("docker-compose down: %s", down.output()).isTrue();
                }
            }
        } finally {
            if (work != null) {
                try (Stream<Path> files = Files.walk(work)) {
                    files.sorted((a, b) -> b.compareTo(a)).forEach(file -> file.toFile().delete());
                }
            }
        }
    }

    /**
     * The promise, end to end: the task's output and exit code come back through the master's REST API, from
     * an unprivileged user of the agent container, and the master's image is what it says (tini, not root).
     */
    @Test
    void aTaskRunsAsAnUnprivilegedUserAndItsResultComesBackThroughTheMaster() {
        JsonObject done = api.awaitFinal(api.submitCmd("id -u; id -un; echo hi; exit 7"), WAIT);

        assertThat(done.getString("state")).isEqualTo("FAILED");
        assertThat(done.getInt("exitCode")).isEqualTo(7);
        assertThat(done.getString("stdout")).isEqualTo(TASK_USER_UID + "\ntaskgrid-task\nhi\n");
        String master = composeOutput("ps", "-q", "master").strip();
        assertThat(dockerOutput("exec", master, "ps", "-o", "user=,comm=", "-p", "1").strip()).matches("taskgrid +tini");
        assertThat(dockerOutput("exec", master, "id", "-u")).isEqualTo("10000\n");
    }

    /**
     * "A task's command is run by someone you may not trust: it must never see the agent's credentials." The token is
     * there (the agent joined with it), yet a task can read neither it, nor the agent's state, nor its environment; and
     * it is in no environment variable of the container, which docker inspect would show to anyone with the engine.
     */
    @Test
    void aTaskCannotReadTheAgentsJoinToken() {
        JsonObject done = api.awaitFinal(api.submitCmd("cat " + TOKEN_FILE_IN_AGENT + "; ls /var/lib/taskgrid-agent; "
                + "cat /proc/$(pgrep -o java)/environ; grep -r tgj_ /etc /run /tmp 2>/dev/null; echo done"), WAIT);

        assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
        assertThat(done.getString("stdout")).isEqualTo("done\n");
        assertThat(done.getString("stderr"))
                .contains("cat: " + TOKEN_FILE_IN_AGENT + ": Permission denied")
                .contains("ls: cannot open directory '/var/lib/taskgrid-agent': Permission denied")
                .contains("environ: Permission denied")
                .doesNotContain(joinToken);
        String agent = agentContainer(done.getString("workerId"));
        assertThat(dockerOutput("exec", agent, "cat", TOKEN_FILE_IN_AGENT)).as("the file the agent reads, as root")
                .isEqualTo(joinToken + "\n");
        assertThat(dockerOutput("inspect", "--format", "{{json .Config.Env}} {{json .Args}}", agent))
                .doesNotContain(joinToken);
    }

    /**
     * A process that leaves its task's session (setsid) is out of the agent's reach and, without a PID namespace
     * (which a container without CAP_SYS_ADMIN cannot make), outlives the task: it is re-parented to PID 1. When it
     * ends, only PID 1 can reap it; were that the JVM, which never waits for processes it did not start, it would
     * stay a zombie for the container's life. With tini it goes.
     */
    @Test
    void anOrphanThatOutlivesItsTaskIsReapedByTini() {
        JsonObject done = api.awaitFinal(api.submitCmd("setsid sleep 6 </dev/null >/dev/null 2>&1 & echo $!"), WAIT);
        assertThat(done.getString("state")).isEqualTo("SUCCEEDED");
        String orphan = done.getString("stdout").strip();
        assertThat(orphan).matches("[0-9]+");
        String agent = agentContainer(done.getString("workerId"));

        assertThat(dockerOutput("exec", agent, "ps", "-o", "user=,comm=", "-p", "1").strip()).matches("root +tini");
        assertThat(dockerOutput("exec", agent, "ps", "-o", "ppid=,uid=,comm=", "-p", orphan).strip())
                .as("the task's orphan, while it runs").matches("1 +" + TASK_USER_UID + " +sleep");
        try {
            Polling.poll(Duration.ofSeconds(30), Duration.ofMillis(500))
                    .until(() -> dockerOutput("exec", agent, "ps", "-eo", "pid=,stat=,comm="),
                            ps -> !ps.matches("(?s).*(^|\\n) *" + orphan + " .*") && !ps.matches("(?s).*\\sZ\\S*\\s.*"));
        } catch (ConditionTimeoutException e) {
            throw new AssertionError("the orphan " + orphan + " ended but was not reaped: "
                    + dockerOutput("exec", agent, "ps", "-eo", "pid,ppid,stat,user,args"), e);
        }
    }

    /** The container an agent runs in: its worker id is its host name, the container's short id, and a suffix. */
    private static String agentContainer(String workerId) {
        Matcher id = Pattern.compile("([0-9a-f]{12})-[0-9a-f]{8}").matcher(workerId);
        assertThat(id.matches()).as("worker id %s: the container's host name and a suffix", workerId).isTrue();
        assertThat(composeOutput("ps", "-q", "agent")).contains(id.group(1));
        return id.group(1);
    }

    /** The one taskgrid-VERSION directory of the release the build made. */
    private static Path releaseDirectory(Path releases) throws IOException {
        try (Stream<Path> entries = Files.list(releases)) {
            List<Path> found = entries.filter(Files::isDirectory)
                    .filter(dir -> dir.getFileName().toString().startsWith("taskgrid-")).toList();
            assertThat(found).as("release directories in %s", releases).hasSize(1);
            return found.get(0).toAbsolutePath();
        }
    }

    /** docker-compose (1.29, what Debian packages) if installed, else Compose v2 as a docker plugin, else null. */
    private static List<String> composeCommand() {
        for (List<String> candidate : List.of(List.of("docker-compose"), List.of("docker", "compose"))) {
            List<String> version = new ArrayList<>(candidate);
            version.add("version");
            if (run(version, Map.of(), Duration.ofSeconds(30)).ok()) {
                return candidate;
            }
        }
        return null;
    }

    private static void awaitHealthyMaster() {
        String master = composeOutput("ps", "-q", "master").strip();
        try {
            Polling.poll(Duration.ofMinutes(3), Duration.ofMillis(500))
                    .until(() -> dockerOutput("inspect", "--format", "{{.State.Health.Status}}", master).strip(),
                            "healthy"::equals);
        } catch (ConditionTimeoutException e) {
            throw new AssertionError("the master did not become healthy: " + composeOutput("logs", "--no-color",
                    "master"), e);
        }
    }

    /** A line of the credentials the master wrote at its first start, read as its own user, as the header says. */
    private static String credential(String key) {
        String value = composeOutput("exec", "-T", "master", "sed", "-n", "s/^" + key + "=//p", CREDENTIALS).strip();
        assertThat(value).as(key).matches("tg[oj]_[A-Za-z0-9_-]{43}");
        return value;
    }

    private static void composeOk(String... args) {
        Result result = compose(args);
        assertThat(result.ok()).as("%s %s: %s", compose, List.of(args), result.output()).isTrue();
    }

    private static String composeOutput(String... args) {
        Result result = compose(args);
        assertThat(result.ok()).as("%s %s: %s", compose, List.of(args), result.output()).isTrue();
        return result.stdout();
    }

    private static Result compose(String... args) {
        List<String> command = new ArrayList<>(compose);
        command.addAll(List.of(args));
        return run(command, composeEnv, COMMAND_TIMEOUT);
    }

    private static String dockerOutput(String... args) {
        List<String> command = new ArrayList<>(List.of("docker"));
        command.addAll(List.of(args));
        Result result = run(command, Map.of(), COMMAND_TIMEOUT);
        assertThat(result.ok()).as("%s: %s", command, result.output()).isTrue();
        return result.stdout();
    }

    private record Result(int exitCode, String stdout, String stderr) {
        boolean ok() {
            return exitCode == 0;
        }

        String output() {
            return stdout + stderr;
        }
    }

    /** Runs a command to its end; a command not found is a failed one (exit code 127), as in a shell. */
    private static Result run(List<String> command, Map<String, String> env, Duration timeout) {
        Path out = null;
        Path err = null;
        try {
            out = Files.createTempFile("taskgrid-img-", ".out");
            err = Files.createTempFile("taskgrid-img-", ".err");
            ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(out.toFile())
                    .redirectError(err.toFile()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            builder.environment().putAll(env);
            Process process;
            try {
                process = builder.start();
            } catch (IOException notFound) {
                return new Result(127, "", notFound.getMessage());
            }
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                throw new AssertionError(command + " took longer than " + timeout.toSeconds() + " s");
            }
            return new Result(process.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } finally {
            deleteQuietly(out);
            deleteQuietly(err);
        }
    }

    private static void deleteQuietly(Path file) {
        if (file != null) {
            file.toFile().delete();
        }
    }

    /** A port nobody listens on now, for the REST API's published port (9092 may be another cluster's). */
    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }
}
