package io.taskgrid.it;

import io.taskgrid.it.cluster.ClusterConfig;
import io.taskgrid.it.cluster.LocalCluster;
import io.taskgrid.it.cluster.MasterStartFailure;
import io.taskgrid.it.cluster.ServerLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/**
 * A master that cannot start says why in one line, and whoever waits for it stops waiting: the quick start exits non-zero
 * and the launcher throws, instead of waiting two minutes for a master that will never be ready (what they did
 * before). Each case lays out a server of its own ({@code taskgrid-startfail}, ports 19395/19356, apart from every
 * other test's) with one thing wrong.
 */
@ExtendWith(SharedCluster.class)
class StartupFailureIT {

    private static final String SERVER = "taskgrid-startfail";
    private static final int HTTP_PORT = 19395;
    private static final int GRPC_PORT = 19356;
    private static final Path WLP = Path.of(SharedCluster.property("taskgrid.wlp.dir"));
    private static final Path LOGS = Path.of(SharedCluster.property("taskgrid.log.dir")).resolve("startfail");
    /** A generous bound that a launcher waiting for readiness (two minutes) would break; the real figure is printed. */
    private static final Duration LAUNCHER_PATIENCE = Duration.ofSeconds(60);

    @Test
    void theQuickStartWithATakenPortExitsNonZeroWithinFifteenSecondsNamingThePort() throws Exception {
        for (int port : List.of(HTTP_PORT, GRPC_PORT)) {
            try (ServerSocket holder = hold(port)) {
                long started = System.nanoTime();
                Process launcher = new ProcessBuilder(javaBinary(), "-cp", System.getProperty("java.class.path"),
                        LocalCluster.class.getName(), "--liberty", WLP.toString(), "--server", SERVER,
                        "--agent-jar", SharedCluster.property("taskgrid.agent.jar"), "--workers", "1",
                        "--http-port", Integer.toString(HTTP_PORT), "--grpc-port", Integer.toString(GRPC_PORT),
                        "--state-dir", LOGS.resolve("quick-start-state").toString())
                        .redirectErrorStream(true).start();
                boolean exited = launcher.waitFor(15, TimeUnit.SECONDS);
                if (!exited) {
                    launcher.destroyForcibly().waitFor();
                }
                String output = new String(launcher.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                System.out.printf("QUICK START, port %d taken: exit %s after %d ms%n", port,
                        exited ? launcher.exitValue() : "none", elapsedMillis(started));
                assertThat(exited).as("exited within 15 s: " + output).isTrue();
                assertThat(launcher.exitValue()).isNotZero();
                assertThat(output).contains("[cluster] Taskgrid did not start: port " + port + " (")
                        .contains("is already in use by another process");
            }
        }
    }

    @Test
    void aGrpcPortAnotherProcessHoldsStopsTheMasterWithOneLineSayingSo() throws Exception {
        try (ServerSocket holder = hold(GRPC_PORT)) {
            String failure = startFails("grpc-taken", Map.of(), Map.of());
            assertThat(failure).contains("Taskgrid master not started: cannot listen on the gRPC port " + GRPC_PORT)
                    .contains("another process holds it; stop that one, or set taskgrid.grpc.port");
            assertOneLineInTheMastersLog("grpc-taken", "cannot listen on the gRPC port " + GRPC_PORT);
        }
    }

    @Test
    void anHttpPortAnotherProcessHoldsStopsTheLauncherWithLibertysLineNamingThePort() throws Exception {
        try (ServerSocket holder = hold(HTTP_PORT)) {
            String failure = startFails("http-taken", Map.of(), Map.of());
            assertThat(failure).contains("CWWKO0221E").contains("port " + HTTP_PORT);
        }
    }

    @Test
    void aSettingWithAValueTheMasterCannotUseStopsItWithOneLineNamingTheSettingAndTheValue() throws Exception {
        String failure = startFails("bad-value", Map.of(), Map.of("TASKGRID_LOST_AFTER_SECONDS", "10s",
                "TASKGRID_AUTH_ENABLED", "ture"));
        assertThat(failure).contains("Taskgrid master not started: 2 settings have values the master cannot use: ")
                .contains("taskgrid.lost.after.seconds (TASKGRID_LOST_AFTER_SECONDS) is '10s': must be a whole number")
                .contains("taskgrid.auth.enabled (TASKGRID_AUTH_ENABLED) is 'ture': must be true or false");
        assertOneLineInTheMastersLog("bad-value", "taskgrid.lost.after.seconds (TASKGRID_LOST_AFTER_SECONDS) is '10s'");
    }

    @Test
    void aDatabaseThatCannotBeReachedStopsTheMasterWithOneLineSayingSo() throws Exception {
        int closedPort;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closedPort = probe.getLocalPort();
        }
        String failure = startFails("no-database", Map.of("taskgrid.db", "postgresql"),
                Map.of("TASKGRID_DB_HOST", "127.0.0.1", "TASKGRID_DB_PORT", Integer.toString(closedPort)));
        assertThat(failure).contains("Taskgrid master not started: cannot reach the database");
        assertOneLineInTheMastersLog("no-database", "cannot reach the database");
    }

    @Test
    void anUnknownSettingIsAWarningThatNamesTheClosestSettingAndTheMasterStillStarts() throws IOException {
        // The shared cluster runs with TASKGRID_LOST_AFTER=10s, a misspelt TASKGRID_LOST_AFTER_SECONDS (SharedCluster).
        Path log = Path.of(SharedCluster.property("taskgrid.log.dir")).resolve("master.log");
        assertThat(Files.readAllLines(log)).anyMatch(line -> line.contains("TASKGRID SETTINGS WARNING: unknown setting "
                + "TASKGRID_LOST_AFTER is ignored; did you mean TASKGRID_LOST_AFTER_SECONDS?"));
        assertThat(SharedCluster.cluster().connectedWorkers()).isPositive();
    }

    /** Starts a master that must fail; returns the launcher's message, after checking how soon it came. */
    private static String startFails(String name, Map<String, String> bootstrap, Map<String, String> env) {
        ServerLayout.copyOfBuildServer(WLP, SERVER, bootstrap, env);
        ClusterConfig config = ClusterConfig.builder(WLP, Path.of(SharedCluster.property("taskgrid.agent.jar")))
                .serverName(SERVER).ports(HTTP_PORT, GRPC_PORT).workers(0).logDir(LOGS.resolve(name))
                .stateDir(LOGS.resolve(name).resolve("state")).build();
        long started = System.nanoTime();
        MasterStartFailure failure = catchThrowableOfType(MasterStartFailure.class, () -> LocalCluster.start(config));
        long took = elapsedMillis(started);
        System.out.printf("START FAILURE %s: launcher gave up after %d ms: %s%n", name, took,
                failure == null ? "(no failure)" : failure.getMessage());
        assertThat(failure).as("the start of a master with " + name + " failed").isNotNull();
        assertThat(took).as("ms until the launcher gave up").isLessThan(LAUNCHER_PATIENCE.toMillis());
        assertThat(ProcessHandle.allProcesses().filter(p -> p.info().commandLine().orElse("").contains(
                "ws-server.jar " + SERVER)).toList()).as("the failed master left running").isEmpty();
        return failure.getMessage();
    }

    /** The master's log has the cause on exactly one line, beginning with the words a launcher looks for. */
    private static void assertOneLineInTheMastersLog(String name, String cause) throws IOException {
        List<String> lines = new ArrayList<>();
        for (String line : Files.readAllLines(LOGS.resolve(name).resolve("master.log"))) {
            // Liberty's own coded messages that quote the exception (SRVE..., FFDC1015I pointing at its incident
            // file, whether one is written depends on timing) are not the master's line.
            if (line.contains("Taskgrid master not started: ") && !LIBERTY_MESSAGE.matcher(line).find()) {
                lines.add(line);
            }
        }
        assertThat(lines).as("the master's own line").hasSize(1);
        assertThat(lines.get(0)).contains(cause);
    }

    private static final Pattern LIBERTY_MESSAGE = Pattern.compile("\\] [A-Z]{4,5}\\d{4}[IWE]: ");

    private static ServerSocket hold(int port) throws IOException {
        ServerSocket socket = new ServerSocket();
        socket.setReuseAddress(true);
        socket.bind(new InetSocketAddress(InetAddress.getByName("localhost"), port));
        return socket;
    }

    private static long elapsedMillis(long since) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - since);
    }

    private static String javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }
}
