package io.taskgrid.it.cluster;

import jakarta.json.Json;
import jakarta.json.JsonException;
import jakarta.json.JsonNumber;
import jakarta.json.JsonReader;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A whole Taskgrid on this machine: the master on a real Open Liberty (running master.war) and N agent JVMs, each its
 * own process. Used by the integration tests and by {@code mvn -Pstart}; {@link #close()} stops every process it
 * started, agents first so that they can still report.
 */
public final class LocalCluster implements AutoCloseable {

    private static final Path SETSID = Path.of("/usr/bin/setsid");

    private final ClusterConfig config;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private Process master;
    /** Read from the file the master writes at its first start; null while authentication is off. */
    private volatile String apiToken;
    private volatile String joinToken;
    private final Map<String, Process> agents = new LinkedHashMap<>();
    /** Threads that copy a process's output here; joined after it exits so its last lines are not lost. */
    private final Map<Process, Thread> pumps = new ConcurrentHashMap<>();

    private LocalCluster(ClusterConfig config) {
        this.config = config;
    }

    /** Starts the master, waits until it is ready, starts the agents and waits until all are connected. */
    public static LocalCluster start(ClusterConfig config) {
        LocalCluster cluster = new LocalCluster(config);
        try {
            cluster.startMaster();
            cluster.configuredWorkerIds().forEach(cluster::startAgent);
            cluster.awaitWorkers(config.workers(), Duration.ofSeconds(60));
            return cluster;
        } catch (RuntimeException e) {
            cluster.close();
            throw e;
        }
    }

    public ClusterConfig config() {
        return config;
    }

    // ---- master ----

    /** Starts Liberty in the foreground of a child process and waits until /health/ready answers UP. */
    public synchronized void startMaster() {
        if (master != null && master.isAlive()) {
            throw new IllegalStateException("the master is already running");
        }
        Path script = config.libertyDir().resolve("bin/server");
        ProcessBuilder builder = new ProcessBuilder(script.toString(), "run", config.serverName());
        Map<String, String> env = builder.environment();
        env.put("TASKGRID_HTTP_PORT", Integer.toString(config.apiPort()));
        env.put("TASKGRID_GRPC_PORT", Integer.toString(config.grpcPort()));
        env.putAll(config.masterEnv());
        master = launch(builder, "master");
        awaitMasterReady(Duration.ofMinutes(2));
        readInitialCredentials();
    }

    /** The operator API token the master made at its first start. */
    public String apiToken() {
        return apiToken;
    }

    /** The agent join token the master made at its first start. */
    public String joinToken() {
        return joinToken;
    }

    private void readInitialCredentials() {
        Path outputDir = config.libertyDir().resolve("usr/servers").resolve(config.serverName());
        if (Files.exists(outputDir.resolve(InitialCredentials.FILE))) {
            InitialCredentials credentials = InitialCredentials.read(outputDir);
            apiToken = credentials.operatorToken();
            joinToken = credentials.joinToken();
        }
    }

    /** Stops the master the way an operator does (SIGTERM; Liberty shuts down cleanly) and waits for it. */
    public synchronized void stopMaster() {
        if (master != null) {
            stop(master, Duration.ofSeconds(60));
            master = null;
        }
    }

    /** SIGKILL: the master gets no chance to shut down cleanly. */
    public synchronized void killMaster() {
        if (master != null) {
            master.toHandle().destroyForcibly();
            waitFor(master, Duration.ofSeconds(30));
            master = null;
        }
    }

    public synchronized void restartMaster() {
        stopMaster();
        startMaster();
    }

    /** The pid of the master's JVM (the server script may have started it as a child), or -1 when it is not running. */
    public synchronized long masterPid() {
        if (master == null || !master.isAlive()) {
            return -1;
        }
        return Stream.concat(Stream.of(master.toHandle()), master.descendants())
                .filter(p -> p.info().commandLine().map(c -> c.contains("ws-server.jar")).orElse(false))
                .mapToLong(ProcessHandle::pid).findFirst().orElse(master.pid());
    }

    public synchronized boolean masterAlive() {
        return master != null && master.isAlive();
    }

    // ---- agents ----

    public synchronized void startAgent(String workerId) {
        Process old = agents.get(workerId);
        if (old != null && old.isAlive()) {
            throw new IllegalStateException("agent " + workerId + " is already running");
        }
        // A small heap to start with (it grows to 128 MB when output needs it) keeps an idle agent near 64 MB.
        List<String> command = new ArrayList<>(List.of(javaBinary(), "-Xms16m", "-Xmx128m", "-XX:+UseSerialGC"));
        // Extra JVM options for the agents, e.g. to profile them: TASKGRID_AGENT_JAVA_OPTS="-XX:StartFlightRecording=..."
        String extra = System.getenv("TASKGRID_AGENT_JAVA_OPTS");
        if (extra != null && !extra.isBlank()) {
            command.addAll(List.of(extra.replace("{id}", workerId).trim().split("\\s+")));
        }
        command.addAll(List.of("-jar", config.agentJar().toString(),
                "--id", workerId,
                "--master", config.grpcTarget(),
                "--slots", Integer.toString(config.slotsPerWorker()),
                "--reconnect-delay", config.reconnectDelay().toMillis() + "ms",
                "--max-reconnect-delay", Math.max(config.reconnectDelay().toMillis(), 10_000) + "ms",
                "--shutdown-grace", "10s",
                "--kill-grace", "2s",
                "--state-dir", config.stateDir().resolve(workerId).toString()));
        if (joinToken != null) {
            command.addAll(List.of("--token-file", joinTokenFile().toString()));
        }
        ProcessBuilder builder = new ProcessBuilder(command);
        // The token goes by file, never by inheritance: a launcher that happened to hold it in its environment must
        // not hand it to the agent (and, through an older agent, to every command) by accident.
        builder.environment().remove("TASKGRID_JOIN_TOKEN");
        agents.put(workerId, launch(builder, workerId));
    }

    /** The join token in a file only this user may read, as the README tells operators to give it to an agent. */
    private Path joinTokenFile() {
        Path file = config.stateDir().resolve("join-token");
        try {
            Files.createDirectories(config.stateDir());
            if (!Files.exists(file)) {
                Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            }
            Files.writeString(file, joinToken + "\n");
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the join token file " + file + ": " + e.getMessage(), e);
        }
    }

    /** SIGTERM: the agent drains, reports and exits 0. Returns its exit code. */
    public synchronized int stopAgent(String workerId) {
        Process agent = agents.remove(workerId);
        if (agent == null) {
            throw new IllegalArgumentException("no agent " + workerId);
        }
        return stop(agent, Duration.ofSeconds(60));
    }

    /** SIGKILL: the agent gets no chance to say anything. */
    public synchronized void killAgent(String workerId) {
        Process agent = agents.remove(workerId);
        if (agent == null) {
            throw new IllegalArgumentException("no agent " + workerId);
        }
        agent.destroyForcibly();
        waitFor(agent, Duration.ofSeconds(30));
    }

    /** Brings the cluster back to its configured shape: master up, every configured agent running and connected. */
    public synchronized void ensureAllRunning() {
        if (!masterAlive()) {
            startMaster();
        }
        for (String id : configuredWorkerIds()) {
            Process agent = agents.get(id);
            if (agent == null || !agent.isAlive()) {
                agents.remove(id);
                startAgent(id);
            }
        }
        awaitWorkers(config.workers(), Duration.ofSeconds(60));
    }

    public List<String> configuredWorkerIds() {
        List<String> ids = new ArrayList<>();
        for (int i = 1; i <= config.workers(); i++) {
            ids.add(config.baseWorkerId() + i);
        }
        return ids;
    }

    public synchronized Process agentProcess(String workerId) {
        return agents.get(workerId);
    }

    public synchronized List<String> agentIds() {
        return new ArrayList<>(agents.keySet());
    }

    // ---- waiting ----

    public void awaitMasterReady(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (master == null || !master.isAlive()) {
                throw new IllegalStateException("the master exited during start; see its log");
            }
            try {
                HttpResponse<String> response = http.send(HttpRequest.newBuilder(
                                URI.create(config.apiBase() + "/health/ready")).timeout(Duration.ofSeconds(2)).build(),
                        HttpResponse.BodyHandlers.ofString());
                if (response.statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the master", e);
            }
            sleep(250);
        }
        throw new IllegalStateException("the master was not ready within " + timeout.toSeconds() + " s");
    }

    /** Waits until GET /workers counts exactly {@code n} connected workers. */
    public void awaitWorkers(int n, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        int seen = -1;
        while (System.nanoTime() < deadline) {
            seen = connectedWorkers();
            if (seen == n) {
                return;
            }
            sleep(100);
        }
        throw new IllegalStateException("expected " + n + " connected workers, saw " + seen + " after "
                + timeout.toSeconds() + " s");
    }

    /** The {@code count} of GET /workers, or -1 while the master does not give one (down, starting, refusing). */
    public int connectedWorkers() {
        try {
            HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(config.apiBase() + "/workers"))
                    .timeout(Duration.ofSeconds(5));
            if (apiToken != null) {
                request.header("Authorization", "Bearer " + apiToken);
            }
            HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
            return response.statusCode() == 200 ? workerCount(response.body()) : -1;
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    private static int workerCount(String workerList) {
        try (JsonReader reader = Json.createReader(new StringReader(workerList))) {
            JsonNumber count = reader.readObject().getJsonNumber("count");
            return count == null ? -1 : count.intValueExact();
        } catch (JsonException | ClassCastException | ArithmeticException e) {
            // not the worker list: an error page of a server still starting, say
            return -1;
        }
    }

    /** Agents first, so that they can still drain and report to a live master; then the master. */
    @Override
    public synchronized void close() {
        List<Process> stopping = new ArrayList<>(agents.values());
        agents.clear();
        // Signals through the handle: Process.destroy() would close the pipes and lose their last lines.
        stopping.forEach(agent -> agent.toHandle().destroy());
        for (Process agent : stopping) {
            if (!waitFor(agent, Duration.ofSeconds(30))) {
                agent.destroyForcibly();
            }
        }
        stopMaster();
    }

    // ---- processes ----

    private Process launch(ProcessBuilder builder, String name) {
        builder.redirectErrorStream(true);
        if (config.ownSession() && Files.isExecutable(SETSID)) {
            // setsid execs in place: the Process is still the master's or agent's own JVM, so destroy() reaches it.
            builder.command().add(0, SETSID.toString());
        }
        try {
            if (config.logDir() != null) {
                Files.createDirectories(config.logDir());
                builder.redirectOutput(ProcessBuilder.Redirect.appendTo(config.logDir().resolve(name + ".log").toFile()));
                return builder.start();
            }
            Process process = builder.start();
            pumps.put(process, prefixLines(process.getInputStream(), name));
            return process;
        } catch (IOException e) {
            throw new UncheckedIOException("could not start " + name + ": " + e.getMessage(), e);
        }
    }

    private static Thread prefixLines(InputStream in, String name) {
        String prefix = String.format("[%-7s] ", name);
        Thread pump = new Thread(() -> {
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = reader.readLine()) != null) {
                    System.out.println(prefix + line);
                }
            } catch (IOException e) {
                // process gone
            }
        }, "log-" + name);
        pump.setDaemon(true);
        pump.start();
        return pump;
    }

    private int stop(Process process, Duration timeout) {
        process.toHandle().destroy();
        if (!waitFor(process, timeout)) {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
            waitFor(process, Duration.ofSeconds(10));
        }
        return process.isAlive() ? -1 : process.exitValue();
    }

    private boolean waitFor(Process process, Duration timeout) {
        try {
            boolean exited = process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            Thread pump = pumps.remove(process);
            if (exited && pump != null) {
                pump.join(2000);
            }
            return exited;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static String javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    // ---- command line: mvn -Pstart ----

    /**
     * Runs a cluster in the foreground until Ctrl-C. Options: --liberty DIR, --agent-jar JAR, --workers N,
     * --http-port P, --grpc-port P, --state-dir DIR. Every process's output is printed here, each line prefixed with who wrote it.
     */
    public static void main(String[] args) throws InterruptedException {
        Map<String, String> options = new LinkedHashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            options.put(args[i], args[i + 1]);
        }
        ClusterConfig config = ClusterConfig.builder(Path.of(require(options, "--liberty")),
                        Path.of(require(options, "--agent-jar")))
                .workers(Integer.parseInt(options.getOrDefault("--workers", "3")))
                .ports(Integer.parseInt(options.getOrDefault("--http-port", "9092")),
                        Integer.parseInt(options.getOrDefault("--grpc-port", "50051")))
                .ownSession(true)
                .stateDir(Path.of(options.getOrDefault("--state-dir",
                        Path.of(System.getProperty("java.io.tmpdir"), "taskgrid-cluster-state").toString())))
                .build();
        CountDownLatch stopped = new CountDownLatch(1);
        LocalCluster[] running = new LocalCluster[1];
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("[cluster] stopping agents and master ...");
            synchronized (running) {
                if (running[0] != null) {
                    running[0].close();
                }
            }
            System.out.println("[cluster] stopped");
            stopped.countDown();
        }, "cluster-stop"));
        LocalCluster cluster = start(config);
        synchronized (running) {
            running[0] = cluster;
        }
        System.out.println();
        System.out.println("[cluster] Taskgrid is up: master " + config.apiBase() + " (gRPC " + config.grpcTarget()
                + "), " + config.workers() + " agent(s). Try:");
        String auth = cluster.apiToken() == null ? "" : " -H 'Authorization: Bearer " + cluster.apiToken() + "'";
        System.out.println("[cluster]   curl -s" + auth + " -X POST " + config.apiBase()
                + "/tasks -H 'Content-Type: application/json' -d '{\"cmd\":\"echo hello world\"}'");
        System.out.println("[cluster]   curl -s" + auth + " " + config.apiBase() + "/tasks/<id>");
        System.out.println("[cluster] Dashboard: open " + config.apiBase() + "/ui/ in a browser and sign in with "
                + (cluster.apiToken() == null ? "the operator token" : "the token above"));
        System.out.println("[cluster] Ctrl-C stops everything.");
        stopped.await();
    }

    private static String require(Map<String, String> options, String name) {
        String value = options.get(name);
        if (value == null) {
            throw new IllegalArgumentException("missing " + name);
        }
        return value;
    }
}
