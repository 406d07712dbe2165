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
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
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
    /** The master's line that says it cannot start, once it has printed one. */
    private volatile String masterFailure;
    /** What the master warned about its settings at its start (a misspelt name, say), to repeat in the summary. */
    private final List<String> settingsWarnings = new CopyOnWriteArrayList<>();
    private final Map<String, Process> agents = new LinkedHashMap<>();
    /** Threads that copy a process's output here; joined after it exits so its last lines are not lost. */
    private final Map<Process, Thread> pumps = new ConcurrentHashMap<>();
    /** Who the agents run tasks as; decided once, before anything starts. */
    private TaskUser taskUser;

    private LocalCluster(ClusterConfig config) {
        this.config = config;
    }

    /** Starts the master, waits until it is ready, starts the agents and waits until all are connected. */
    public static LocalCluster start(ClusterConfig config) {
        LocalCluster cluster = new LocalCluster(config);
        try {
            cluster.taskUser = TaskUser.resolve(config.taskUser(), line -> System.out.println("[cluster] " + line));
            cluster.taskUser.warning().ifPresent(LocalCluster::shout);
            cluster.startMaster();
            cluster.configuredWorkerIds().forEach(cluster::startAgent);
            if (config.workers() > 0 || !config.mayStandBy()) {
                // (A standby lists no workers: they are the active master's.)
                cluster.awaitWorkers(config.workers(), Duration.ofSeconds(60));
            }
            return cluster;
        } catch (RuntimeException e) {
            cluster.close();
            throw e;
        }
    }

    public ClusterConfig config() {
        return config;
    }

    /** Who this cluster's agents run tasks as. */
    public TaskUser taskUser() {
        return taskUser;
    }

    /** A warning no one can miss in a terminal full of log lines. */
    private static void shout(String warning) {
        String rule = "[cluster] " + "!".repeat(100);
        System.out.println(rule);
        System.out.println("[cluster] " + warning);
        System.out.println(rule);
    }

    // ---- master ----

    /**
     * Starts Liberty in the foreground of a child process and waits until /health/ready answers UP. Fails at once,
     * with the master's own line, when the master says it cannot start (a setting, a port, the database): a launcher
     * that waits two minutes for a master that will never be ready helps nobody.
     */
    public synchronized void startMaster() {
        if (master != null && master.isAlive()) {
            throw new IllegalStateException("the master is already running");
        }
        Path script = config.libertyDir().resolve("bin/server");
        // The master's files (operator token, tokens file, secret key, database, logs that once held the tokens) are
        // its user's alone: a task, or anyone else on the machine, must not read them. umask 077 for what it makes,
        // and the server directory closed for what an earlier start made.
        makePrivate(config.libertyDir().resolve("usr/servers").resolve(config.serverName()));
        ProcessBuilder builder = new ProcessBuilder("/bin/sh", "-c", "umask 077 && exec \"$0\" \"$@\"",
                script.toString(), "run", config.serverName());
        Map<String, String> env = builder.environment();
        env.put("TASKGRID_HTTP_PORT", Integer.toString(config.apiPort()));
        env.put("TASKGRID_GRPC_PORT", Integer.toString(config.grpcPort()));
        env.putAll(config.masterEnv());
        masterFailure = null;
        settingsWarnings.clear();
        master = launch(builder, "master", line -> {
            if (masterFailure == null && MasterStartFailure.isFatal(line)) {
                masterFailure = line.strip();
            }
            int warning = line.indexOf(SETTINGS_WARNING);
            if (warning >= 0 && settingsWarnings.size() < 20) {
                settingsWarnings.add(line.substring(warning + SETTINGS_WARNING.length()).strip());
            }
        });
        try {
            awaitMasterReady(Duration.ofMinutes(2));
        } catch (RuntimeException e) {
            // Nothing to save in a master that did not start; a graceful stop would only make the caller wait.
            killMaster();
            throw e;
        }
        readInitialCredentials();
    }

    /**
     * Before a quick start: refuses when another process already holds a port the master needs, in a second rather
     * than after the master's start. (The master says the same itself, a few seconds later.)
     */
    public static void checkPortsFree(ClusterConfig config) {
        checkPortFree(config, config.apiPort(), "the REST API", "taskgrid.http.port");
        checkPortFree(config, config.grpcPort(), "gRPC, for agents", "taskgrid.grpc.port");
    }

    private static void checkPortFree(ClusterConfig config, int port, String what, String setting) {
        if (port <= 0) {
            return;
        }
        try (ServerSocket probe = new ServerSocket()) {
            probe.setReuseAddress(true);
            probe.bind(new InetSocketAddress(InetAddress.getByName(config.masterHost()), port));
        } catch (IOException e) {
            throw new MasterStartFailure("port " + port + " (" + what + ") on " + config.masterHost()
                    + " is already in use by another process (" + e.getMessage() + "): stop that process, or choose "
                    + "another port with -D" + setting + "=PORT");
        }
    }

    private static final String SETTINGS_WARNING = "TASKGRID SETTINGS WARNING:";

    /** The master's warnings about its settings at its last start, without their prefix. */
    public List<String> settingsWarnings() {
        return List.copyOf(settingsWarnings);
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
        Path outputDir = credentialsDir();
        if (Files.exists(outputDir.resolve(InitialCredentials.FILE))) {
            InitialCredentials credentials = InitialCredentials.read(outputDir);
            apiToken = credentials.operatorToken();
            joinToken = credentials.joinToken();
        } else if (Files.exists(outputDir.resolve(TOKENS_FILE)) && !config.masterEnv().containsKey("TASKGRID_HOME")
                && !config.masterEnv().containsKey("TASKGRID_AUTH_TOKENS_FILE")) {
            // The master made its credentials at an earlier start, and the file that handed them over is gone: the
            // agents would start without a join token and be refused.
            throw new MasterStartFailure("the master's tokens were made at an earlier start, and "
                    + outputDir.resolve(InitialCredentials.FILE) + ", which gives the local cluster its operator and "
                    + "join tokens, is gone: put it back, or delete " + outputDir.resolve(TOKENS_FILE) + " to have the "
                    + "master make new ones at its next start (every token given out before then stops working)");
        }
    }

    /**
     * Where the master keeps its tokens: its {@code TASKGRID_HOME}, from this launcher's settings or the server's own
     * server.env (as the README's several masters share one), else the server's directory.
     */
    private Path credentialsDir() {
        Path serverDir = config.libertyDir().resolve("usr/servers").resolve(config.serverName());
        String home = config.masterEnv().get("TASKGRID_HOME");
        Path serverEnv = serverDir.resolve("server.env");
        if (home == null && Files.exists(serverEnv)) {
            try {
                for (String line : Files.readAllLines(serverEnv)) {
                    if (line.startsWith("TASKGRID_HOME=")) {
                        home = line.substring("TASKGRID_HOME=".length()).strip();
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + serverEnv + ": " + e.getMessage(), e);
            }
        }
        return home == null || home.isEmpty() ? serverDir : Path.of(home);
    }

    /** The tokens file the master makes at its first start, where the build's server keeps it. */
    private static final String TOKENS_FILE = "taskgrid-tokens.properties";

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
            // The server script may run the JVM as its child: both go.
            master.descendants().forEach(ProcessHandle::destroyForcibly);
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

    /**
     * How an agent JVM is best run (docs/agent.md): a small heap to start with that grows to 128 MB when output
     * needs it, the serial collector (one thread, no concurrent work beside the tasks), and only the client compiler:
     * the agent's hot path is system calls, which the second compiler does not make faster, while its code cache and
     * compiler threads cost about 16 MB of resident memory. Measured idle and connected: 92 MB with the first three
     * alone, 76 MB with all of these.
     */
    public static final List<String> AGENT_JVM_OPTIONS = List.of("-Xms8m", "-Xmx128m", "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1", "-Xss512k", "-XX:ReservedCodeCacheSize=32m", "-XX:MinHeapFreeRatio=10",
            "-XX:MaxHeapFreeRatio=30");

    public synchronized void startAgent(String workerId) {
        Process old = agents.get(workerId);
        if (old != null && old.isAlive()) {
            throw new IllegalStateException("agent " + workerId + " is already running");
        }
        List<String> command = new ArrayList<>(List.of(javaBinary()));
        command.addAll(AGENT_JVM_OPTIONS);
        // Extra JVM options for the agents, e.g. to profile them: TASKGRID_AGENT_JAVA_OPTS="-XX:StartFlightRecording=..."
        String extra = System.getenv("TASKGRID_AGENT_JAVA_OPTS");
        if (extra != null && !extra.isBlank()) {
            command.addAll(List.of(extra.replace("{id}", workerId).trim().split("\\s+")));
        }
        command.addAll(List.of("-jar", config.agentJar().toAbsolutePath().toString(),
                "--id", workerId,
                "--master", config.agentMasterList(),
                "--slots", Integer.toString(config.slotsPerWorker()),
                "--reconnect-delay", config.reconnectDelay().toMillis() + "ms",
                "--max-reconnect-delay", Math.max(config.reconnectDelay().toMillis(), 10_000) + "ms",
                "--shutdown-grace", "10s",
                "--kill-grace", "2s",
                "--state-dir", config.stateDir().resolve(workerId).toAbsolutePath().toString()));
        if (config.prefetchPerWorker() >= 0) {
            command.addAll(List.of("--prefetch", Integer.toString(config.prefetchPerWorker())));
        }
        if (joinToken != null) {
            command.addAll(List.of("--token-file", joinTokenFile().toAbsolutePath().toString()));
        }
        taskUser.runAs().ifPresent(user -> command.addAll(List.of("--run-as", user)));
        ProcessBuilder builder = new ProcessBuilder(command);
        // A task without a cwd starts where its agent runs: never in the checkout or among the master's files.
        // (With --run-as it starts in the task user's home instead.)
        builder.directory(tasksDirectory().toFile());
        // The token goes by file, never by inheritance: a launcher that happened to hold it in its environment must
        // not hand it to the agent (and, through an older agent, to every command) by accident.
        builder.environment().remove("TASKGRID_JOIN_TOKEN");
        agents.put(workerId, launch(builder, workerId));
    }

    /** Where tasks without a cwd start when they run as the launcher's user: an empty directory of their own. */
    private Path tasksDirectory() {
        Path dir = config.stateDir().resolve("tasks").toAbsolutePath();
        try {
            makePrivate(config.stateDir());
            Files.createDirectories(dir);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot make " + dir + ": " + e.getMessage(), e);
        }
    }

    /** Makes {@code dir} (and missing parents) and lets no one but this user in. */
    static void makePrivate(Path dir) {
        try {
            Files.createDirectories(dir);
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot make " + dir + " private: " + e.getMessage(), e);
        }
    }

    /** The join token in a file only this user may read, as docs/agent.md tells operators to give it to an agent. */
    private Path joinTokenFile() {
        Path file = config.stateDir().resolve("join-token");
        try {
            makePrivate(config.stateDir());
            if (!Files.exists(file)) {
                Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            }
            // Never through a link: a file planted at this path must not send the token elsewhere.
            Files.writeString(file, joinToken + "\n", StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING,
                    LinkOption.NOFOLLOW_LINKS);
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
            String failure = masterFailure;
            if (failure != null) {
                throw new MasterStartFailure("the master did not start: " + failure);
            }
            if (master == null || !master.isAlive()) {
                throw new MasterStartFailure("the master exited during start"
                        + (config.logDir() == null ? "" : "; see " + config.logDir().resolve("master.log")));
            }
            try {
                // A standby is ready too: it takes calls for the active master.
                HttpResponse<String> response = http.send(HttpRequest.newBuilder(
                                URI.create(config.apiBase() + "/health/ready")).timeout(Duration.ofSeconds(2)).build(),
                        HttpResponse.BodyHandlers.ofString());
                // The application's own check must be there and UP: a server whose application failed still answers
                // 200 for the checks it has left.
                if (response.statusCode() == 200 && response.body().contains("taskgrid-ready")) {
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
        throw new MasterStartFailure("the master was not ready within " + timeout.toSeconds() + " s");
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
            exitedAgent().ifPresent(exited -> {
                throw new MasterStartFailure(exited);
            });
            sleep(100);
        }
        throw new IllegalStateException("expected " + n + " connected workers, saw " + seen + " after "
                + timeout.toSeconds() + " s");
    }

    /** An agent of this cluster that has exited on its own (a refused token, a bad flag), said as such. */
    private synchronized Optional<String> exitedAgent() {
        for (Map.Entry<String, Process> agent : agents.entrySet()) {
            if (!agent.getValue().isAlive()) {
                return Optional.of("agent " + agent.getKey() + " exited with code " + agent.getValue().exitValue()
                        + (config.logDir() == null ? "" : "; see " + config.logDir().resolve(agent.getKey() + ".log")));
            }
        }
        return Optional.empty();
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
            return response.statusCode() == 200 ? workerCount(response.body(),
                    config.masterEnv().get("TASKGRID_MASTER_ID")) : -1;
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /**
     * The count of the worker list; of a named master ({@code TASKGRID_MASTER_ID}), on a database masters share, the
     * workers connected to it only (the list has every master's).
     */
    private static int workerCount(String workerList, String masterId) {
        try (JsonReader reader = Json.createReader(new StringReader(workerList))) {
            jakarta.json.JsonObject list = reader.readObject();
            if (masterId != null && list.containsKey("workers")) {
                return (int) list.getJsonArray("workers").stream().map(jakarta.json.JsonValue::asJsonObject)
                        .filter(w -> masterId.equals(w.getString("master", null))).count();
            }
            JsonNumber count = list.getJsonNumber("count");
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
        return launch(builder, name, null);
    }

    /**
     * Starts a process with its output going to its log file, or to this process's output with each line prefixed
     * with {@code name}. With {@code watcher}, every line also passes through it (on the pump's thread).
     */
    private Process launch(ProcessBuilder builder, String name, Consumer<String> watcher) {
        builder.redirectErrorStream(true);
        if (config.ownSession() && Files.isExecutable(SETSID)) {
            // setsid execs in place: the Process is still the master's or agent's own JVM, so destroy() reaches it.
            builder.command().add(0, SETSID.toString());
        }
        try {
            Path log = null;
            if (config.logDir() != null) {
                // Logs hold what processes print: the master's first start prints its tokens.
                makePrivate(config.logDir());
                log = config.logDir().resolve(name + ".log");
                if (!Files.exists(log, LinkOption.NOFOLLOW_LINKS)) {
                    Files.createFile(log, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
                }
                if (watcher == null) {
                    builder.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
                    return builder.start();
                }
            }
            Process process = builder.start();
            pumps.put(process, copyLines(process.getInputStream(), name, watcher, log));
            return process;
        } catch (IOException e) {
            throw new UncheckedIOException("could not start " + name + ": " + e.getMessage(), e);
        }
    }

    /** Copies lines to {@code log} (appended) or, when it is null, to this process's output prefixed with the name. */
    private static Thread copyLines(InputStream in, String name, Consumer<String> watcher, Path log) {
        String prefix = String.format("[%-7s] ", name);
        Thread pump = new Thread(() -> {
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
                 Writer file = log == null ? null : Files.newBufferedWriter(log, StandardCharsets.UTF_8,
                         StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
                String line;
                while ((line = reader.readLine()) != null) {
                    if (watcher != null) {
                        watcher.accept(line);
                    }
                    if (file != null) {
                        file.write(line);
                        file.write('\n');
                        file.flush();
                    } else {
                        System.out.println(prefix + line);
                    }
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
     * --http-port P, --grpc-port P, --state-dir DIR, --server NAME (the Liberty server; default taskgrid),
     * --task-user auto|same|USER (who tasks run as; see {@link TaskUser}), --prefetch N (each agent's). Every process's output is printed here, each line prefixed with who wrote it.
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
                .serverName(options.getOrDefault("--server", "taskgrid"))
                .ownSession(true)
                .taskUser(options.getOrDefault("--task-user", TaskUser.AUTO))
                .prefetchPerWorker(Integer.parseInt(options.getOrDefault("--prefetch", "-1")))
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
        LocalCluster cluster;
        try {
            checkPortsFree(config);
            cluster = start(config);
        } catch (MasterStartFailure e) {
            System.out.println("[cluster] Taskgrid did not start: " + e.getMessage());
            throw e;
        }
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
        System.out.println("[cluster]   curl -s" + auth + " " + config.apiBase() + "/workers");
        String cli = options.containsKey("--cli") ? Path.of(options.get("--cli")).normalize().toString() : null;
        if (cli != null) {
            System.out.println("[cluster] Or with the command line, " + cli + " (link it into your PATH as taskgrid):");
            System.out.println("[cluster]   " + cli + " run -- 'echo hi; exit 3'");
            System.out.println("[cluster]   " + cli + " ls");
            System.out.println("[cluster]   " + CliConfig.handOff(CliConfig.file(), config.apiBase(),
                    cluster.apiToken()));
        }
        System.out.println("[cluster] Dashboard: open " + config.apiBase() + "/ui/ in a browser and sign in with "
                + (cluster.apiToken() == null ? "the operator token" : "the token above"));
        for (String warning : cluster.settingsWarnings()) {
            System.out.println("[cluster] The master warned: " + warning);
        }
        cluster.taskUser().runAs().ifPresentOrElse(
                user -> System.out.println("[cluster] Tasks run as the user " + user + ", in its home: they cannot "
                        + "read the master's tokens, key, database or logs, nor the agents' state."),
                () -> cluster.taskUser().warning().ifPresent(LocalCluster::shout));
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
