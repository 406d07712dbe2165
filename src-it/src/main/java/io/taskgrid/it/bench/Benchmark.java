package io.taskgrid.it.bench;

import io.taskgrid.it.cluster.ClusterConfig;
import io.taskgrid.it.cluster.LocalCluster;
import io.taskgrid.it.cluster.PostgresServer;
import io.taskgrid.it.cluster.ServerLayout;
import io.taskgrid.it.cluster.TaskUser;
import jakarta.json.Json;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import jakarta.json.JsonValue;

import java.io.IOException;
import java.io.StringReader;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The benchmark: one run measures, side by side on this machine, the spawn floor (what the machine itself allows)
 * and what Taskgrid achieves against it, through the quick-start cluster (a real Liberty, three agent JVMs with their
 * default slots), black box over REST, CPU and memory from the processes' own counters in /proc.
 *
 * <p>Figures: the floor (VFORK, 2 threads); end-to-end tasks/s of {@code true} and its ratio to the floor; CPU per task
 * of the master and of the agents; dispatch latency (the API's startedAt minus submittedAt, minus the machine's time to
 * spawn one process) at half the end-to-end rate; intake (durable submissions/s, p50, p99) with 8 keep-alive clients
 * while every worker is busy, near an empty queue and near 100,000 queued; master heap with that queue; master ready
 * time; agent RSS when idle. Written to {@code OUT/results.json} and {@code OUT/results.svg}.
 *
 * <p>Usage: {@code Benchmark --liberty DIR --agent-jar JAR --out DIR [--db h2,postgresql] [--label TEXT]
 * [--scale full|smoke] [--http-port P] [--grpc-port P] [--master-env K=V]...}
 */
public final class Benchmark {

    private static final Pattern HEAP_USED = Pattern.compile("used (\\d+)K");
    private static final int CLIENTS = 8;

    private final Map<String, String> options;
    private final boolean smoke;
    private final Map<String, Object> results = new LinkedHashMap<>();
    private LocalCluster cluster;
    private String token;

    private Benchmark(Map<String, String> options) {
        this.options = options;
        this.smoke = "smoke".equals(options.getOrDefault("--scale", "full"));
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> options = new LinkedHashMap<>();
        List<String> masterEnv = new ArrayList<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (args[i].equals("--master-env")) {
                masterEnv.add(args[i + 1]);
            } else {
                options.put(args[i], args[i + 1]);
            }
        }
        options.put("--master-env", String.join("\n", masterEnv));
        new Benchmark(options).run();
        if (!Boolean.getBoolean("taskgrid.bench.noexit")) {
            System.exit(0);
        }
    }

    private void run() throws Exception {
        Path out = Path.of(options.get("--out"));
        Files.createDirectories(out);
        log("spawn floor ...");
        JsonObject floor2 = spawnFloor(2, smoke ? 2 : 6);
        JsonObject floor1 = spawnFloor(1, smoke ? 1 : 3);
        for (String db : options.getOrDefault("--db", "h2").split(",")) {
            results.clear();
            results.put("label", options.getOrDefault("--label", ""));
            results.put("db", db);
            results.put("scale", smoke ? "smoke" : "full");
            results.put("date", Instant.now().toString());
            results.put("cores", Runtime.getRuntime().availableProcessors());
            results.put("java", System.getProperty("java.version"));
            results.put("floorPerSecond", floor2.getJsonNumber("perSecond").doubleValue());
            results.put("floorCpuMsPerSpawn", floor2.getJsonNumber("cpuMsPerSpawn").doubleValue());
            results.put("spawnMedianMs", floor1.getJsonNumber("medianMs").doubleValue());
            runOn(db, out);
            write(out, db);
        }
    }

    /** One run of every measurement on a fresh master over {@code db} (h2, postgresql, or default: the build's own). */
    private void runOn(String db, Path out) throws Exception {
        log("==== " + db + " ====");
        Path wlp = Path.of(options.get("--liberty"));
        Map<String, String> env = new LinkedHashMap<>();
        env.put("TASKGRID_QUEUE_MAX", "250000");
        // The benchmark is the master's one caller: the queue's cap alone, no share per caller.
        env.put("TASKGRID_QUEUE_PER_CALLER_SHARE", "1");
        for (String line : options.get("--master-env").split("\n")) {
            if (line.indexOf('=') > 0) {    // "none" (the default) and blanks set nothing
                env.put(line.substring(0, line.indexOf('=')), line.substring(line.indexOf('=') + 1));
            }
        }
        PostgresServer postgres = null;
        String server = "taskgrid";
        if (db.equals("postgresql")) {
            postgres = PostgresServer.start(out.resolve("postgres"), 55432);
            env.put("TASKGRID_DB_HOST", "127.0.0.1");
            env.put("TASKGRID_DB_PORT", Integer.toString(postgres.port()));
            server = "taskgrid-bench-pg";
            ServerLayout.copyOfBuildServer(wlp, server, Map.of("taskgrid.db", "postgresql"), env);
        } else if (db.equals("h2")) {
            server = "taskgrid-bench-h2";
            ServerLayout.copyOfBuildServer(wlp, server, Map.of("taskgrid.db", "h2"), env);
        }
        ClusterConfig.Builder config = ClusterConfig.builder(wlp, Path.of(options.get("--agent-jar")))
                .serverName(server)
                .slotsPerWorker(Integer.parseInt(options.getOrDefault("--slots", "1")))
                .ports(Integer.parseInt(options.getOrDefault("--http-port", "9092")),
                        Integer.parseInt(options.getOrDefault("--grpc-port", "50051")))
                .logDir(out.resolve("logs-" + db))
                .stateDir(out.resolve("agent-state-" + db))
                // What Taskgrid itself costs, next to the machine's spawn floor: tasks as the launcher's user by
                // default; --task-user auto measures the quick start's arrangement (a user switch and a PID namespace
                // per task).
                .taskUser(options.getOrDefault("--task-user", TaskUser.SAME));
        env.forEach(config::masterEnv);
        double floorRate = (Double) results.get("floorPerSecond");
        double spawnMs = (Double) results.get("spawnMedianMs");
        long startAt = System.nanoTime();
        cluster = LocalCluster.start(config.build());
        token = cluster.apiToken();
        try {
            results.put("clusterStartSeconds", (System.nanoTime() - startAt) / 1e9);
            String phases = options.getOrDefault("--phases", "ready,e2e,dispatch,intake");
            if (phases.contains("ready")) {
                masterReady();
            }
            TimeUnit.SECONDS.sleep(3);
            results.put("agentIdleRssMib", maxAgentRss());
            results.put("masterIdleRssMib", ProcStat.rssMib(cluster.masterPid()));
            // Warm up first (JIT compilation of a freshly started Liberty takes most of its CPU for a minute), so
            // that what is measured is the steady state a running master is in.
            int warmUp = smoke ? 50 : 2000;
            log("warming up: " + warmUp + " tasks, not counted ...");
            submitAll(warmUp, "{\"cmd\":\"true\"}");
            awaitIdle(Duration.ofMinutes(30));
            String profileDir = options.getOrDefault("--profile", "none");
            Path profile = profileDir.isBlank() || profileDir.equals("none") ? null : Path.of(profileDir);
            if (profile != null) {
                Files.createDirectories(profile);
                jfr(cluster.masterPid(), "JFR.start", "name=bench", "settings=profile");
                for (long agent : agentPids()) {
                    jfr(agent, "JFR.start", "name=bench", "settings=profile");
                }
            }
            double tasksPerSecond = endToEnd(Integer.parseInt(options.getOrDefault("--tasks", smoke ? "150" : "3000")));
            if (profile != null) {
                jfr(cluster.masterPid(), "JFR.stop", "name=bench", "filename=" + profile.resolve("master-" + db + ".jfr"));
                int i = 0;
                for (long agent : agentPids()) {
                    i++;
                    jfr(agent, "JFR.stop", "name=bench", "filename=" + profile.resolve("agent" + i + "-" + db + ".jfr"));
                }
                log("profiles of the end-to-end run in " + profile);
            }
            results.put("e2eRatioToFloor", tasksPerSecond / floorRate);
            if (phases.contains("dispatch")) {
                dispatchLatency(tasksPerSecond / 2, spawnMs, smoke ? 50 : 600);
            }
            if (phases.contains("intake")) {
                intake(smoke ? 1 : 10, smoke ? 1_000 : 100_000);
            }
            results.put("agentRssAfterMib", maxAgentRss());
        } finally {
            cluster.close();
            if (postgres != null) {
                postgres.close();
            }
        }
    }

    // ---- measurements ----

    private JsonObject spawnFloor(int threads, int seconds) throws Exception {
        Path classes = Path.of(SpawnFloor.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        if (Runtime.version().feature() < 25) {
            command.add("-Djdk.lang.Process.launchMechanism=VFORK");
        }
        command.addAll(List.of("-cp", classes.toString(), SpawnFloor.class.getName(), Integer.toString(threads),
                Integer.toString(seconds)));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        process.waitFor();
        String last = output.lines().reduce((a, b) -> b).orElse("");
        log("  " + last);
        return json(last);
    }

    /** How long a master restart takes, from launch to /health/ready. */
    private void masterReady() {
        long t0 = System.nanoTime();
        cluster.stopMaster();
        long stopped = System.nanoTime();
        cluster.startMaster();
        results.put("masterStopSeconds", (stopped - t0) / 1e9);
        results.put("masterReadySeconds", (System.nanoTime() - stopped) / 1e9);
        cluster.awaitWorkers(cluster.config().workers(), Duration.ofSeconds(60));
        log("master ready in " + results.get("masterReadySeconds") + " s after its start");
    }

    private double endToEnd(int n) throws Exception {
        log("end to end: " + n + " tasks of `true` ...");
        long masterPid = cluster.masterPid();
        double masterCpu0 = ProcStat.cpuSeconds(masterPid);
        double agentCpu0 = agentCpu();
        submitAll(n, "{\"cmd\":\"true\"}");
        awaitIdle(Duration.ofMinutes(30));
        double masterCpu = ProcStat.cpuSeconds(masterPid) - masterCpu0;
        double agentCpu = agentCpu() - agentCpu0;
        List<JsonObject> tasks = newest(n);
        Instant first = tasks.stream().map(t -> Instant.parse(t.getString("submittedAt"))).min(Instant::compareTo)
                .orElseThrow();
        Instant last = tasks.stream().filter(t -> t.get("finishedAt").getValueType() == JsonValue.ValueType.STRING)
                .map(t -> Instant.parse(t.getString("finishedAt"))).max(Instant::compareTo).orElseThrow();
        long failed = tasks.stream().filter(t -> !t.getString("state").equals("SUCCEEDED")).count();
        double seconds = Duration.between(first, last).toMillis() / 1000.0;
        double rate = n / seconds;
        results.put("e2eTasks", n);
        results.put("e2eNotSucceeded", failed);
        results.put("e2eTasksPerSecond", rate);
        results.put("masterCpuMsPerTask", masterCpu * 1000 / n);
        results.put("agentCpuMsPerTask", agentCpu * 1000 / n);
        log(String.format(Locale.ROOT, "  %.1f tasks/s; CPU per task: master %.2f ms, agents %.2f ms; %d not succeeded",
                rate, masterCpu * 1000 / n, agentCpu * 1000 / n, failed));
        return rate;
    }

    private void dispatchLatency(double rate, double spawnMs, int n) throws Exception {
        int count = (int) Math.max(20, Math.min(n, rate * 20));
        log(String.format(Locale.ROOT, "dispatch latency: %d tasks at %.1f/s (half load) ...", count, rate));
        try (RawHttp http = http()) {
            long t0 = System.nanoTime();
            for (int i = 0; i < count; i++) {
                long due = t0 + (long) (i * 1e9 / rate);
                long wait = due - System.nanoTime();
                if (wait > 0) {
                    TimeUnit.NANOSECONDS.sleep(wait);
                }
                RawHttp.Response response = http.post("/tasks", "{\"cmd\":\"true\"}");
                if (response.status() != 202) {
                    throw new IllegalStateException("submission refused: " + response.status() + " " + response.body());
                }
            }
        }
        awaitIdle(Duration.ofMinutes(10));
        double[] latencies = newest(count).stream()
                .filter(t -> t.get("startedAt").getValueType() == JsonValue.ValueType.STRING)
                .mapToDouble(t -> Duration.between(Instant.parse(t.getString("submittedAt")),
                        Instant.parse(t.getString("startedAt"))).toNanos() / 1e6 - spawnMs)
                .sorted().toArray();
        results.put("dispatchRatePerSecond", rate);
        results.put("dispatchP50Ms", percentile(latencies, 50));
        results.put("dispatchP99Ms", percentile(latencies, 99));
        log(String.format(Locale.ROOT, "  submitted -> started minus one spawn (%.2f ms): p50 %.1f ms, p99 %.1f ms",
                spawnMs, percentile(latencies, 50), percentile(latencies, 99)));
    }

    private void intake(int seconds, int fillTo) throws Exception {
        int slots = cluster.config().workers() * cluster.config().slotsPerWorker();
        log("intake: every worker busy (" + slots + " sleeping tasks) ...");
        List<String> blockers = new ArrayList<>();
        try (RawHttp http = http()) {
            for (int i = 0; i < slots; i++) {
                blockers.add(json(http.post("/tasks", "{\"cmd\":\"sleep 3600\"}").body()).getString("id"));
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (count("RUNNING") < slots && System.nanoTime() < deadline) {
                TimeUnit.MILLISECONDS.sleep(100);
            }
        }
        submitAll(100, "{\"cmd\":\"true\"}");
        Window low = submitFor(Duration.ofSeconds(seconds), Long.MAX_VALUE);
        results.put("intakeLowQueued", 100);
        results.put("intakeLowPerSecond", low.rate());
        results.put("intakeLowP50Ms", low.p50());
        results.put("intakeLowP99Ms", low.p99());
        log(String.format(Locale.ROOT, "  near an empty queue: %.0f/s, p50 %.1f ms, p99 %.1f ms", low.rate(), low.p50(),
                low.p99()));

        log("  filling the queue to " + fillTo + " (at most 5 minutes) ...");
        long queued = 100 + low.accepted();
        long fillDeadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(smoke ? 1 : 5);
        while (queued < fillTo && System.nanoTime() < fillDeadline) {
            Window fill = submitFor(Duration.ofSeconds(5), fillTo - queued);
            queued += fill.accepted();
            if (fill.accepted() == 0) {
                break;
            }
        }
        Window high = submitFor(Duration.ofSeconds(seconds), Long.MAX_VALUE);
        queued += high.accepted();
        results.put("intakeHighQueued", queued);
        results.put("intakeHighPerSecond", high.rate());
        results.put("intakeHighP50Ms", high.p50());
        results.put("intakeHighP99Ms", high.p99());
        log(String.format(Locale.ROOT, "  near %d queued: %.0f/s, p50 %.1f ms, p99 %.1f ms", queued, high.rate(),
                high.p50(), high.p99()));

        long pid = cluster.masterPid();
        results.put("masterHeapWithQueueMib", heapAfterGcMib(pid));
        results.put("masterRssWithQueueMib", ProcStat.rssMib(pid));
        log("  master heap after a full GC with that queue: " + results.get("masterHeapWithQueueMib") + " MiB, RSS "
                + String.format(Locale.ROOT, "%.0f", ProcStat.rssMib(pid)) + " MiB");

        // One slot comes free: how long until the oldest of the queued tasks starts?
        try (RawHttp http = http()) {
            long t0 = System.currentTimeMillis();
            http.delete("/tasks/" + blockers.get(0));
            TimeUnit.SECONDS.sleep(2);
            long first = json(http.get("/tasks?state=SUCCEEDED&limit=200").body()).getJsonArray("tasks")
                    .getValuesAs(JsonObject.class).stream()
                    .filter(t -> t.get("startedAt").getValueType() == JsonValue.ValueType.STRING)
                    .mapToLong(t -> Instant.parse(t.getString("startedAt")).toEpochMilli())
                    .filter(started -> started >= t0).min().orElse(-1);
            if (first >= 0) {
                results.put("slotFreeToNextStartWithQueueMs", first - t0);
                log("  a freed slot took the next of " + queued + " queued tasks in " + (first - t0) + " ms");
            }
        }
    }

    // ---- load generation ----

    /** Submissions of one window: how many went through, and their latencies. */
    private record Window(long accepted, double seconds, double[] latenciesMs) {
        double rate() {
            return accepted / seconds;
        }

        double p50() {
            return percentile(latenciesMs, 50);
        }

        double p99() {
            return percentile(latenciesMs, 99);
        }
    }

    /** 8 keep-alive clients submit as fast as they can for {@code duration}, or until {@code limit} are accepted. */
    private Window submitFor(Duration duration, long limit) throws Exception {
        ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
        ConcurrentLinkedQueue<long[]> latencies = new ConcurrentLinkedQueue<>();
        AtomicLong accepted = new AtomicLong();
        AtomicBoolean stop = new AtomicBoolean();
        long deadline = System.nanoTime() + duration.toNanos();
        long t0 = System.nanoTime();
        List<Future<?>> running = new ArrayList<>();
        for (int c = 0; c < CLIENTS; c++) {
            running.add(clients.submit(() -> {
                long[] mine = new long[1 << 20];
                int n = 0;
                try (RawHttp http = http()) {
                    while (!stop.get() && System.nanoTime() < deadline && n < mine.length) {
                        long s = System.nanoTime();
                        RawHttp.Response response = http.post("/tasks", "{\"cmd\":\"true\"}");
                        mine[n++] = System.nanoTime() - s;
                        if (response.status() == 202) {
                            if (accepted.incrementAndGet() >= limit) {
                                stop.set(true);
                            }
                        } else if (response.status() == 503) {
                            stop.set(true);
                        } else {
                            throw new IllegalStateException("submission answered " + response.status() + ": "
                                    + response.body());
                        }
                    }
                }
                latencies.add(Arrays.copyOf(mine, n));
                return null;
            }));
        }
        for (Future<?> f : running) {
            f.get();
        }
        clients.shutdown();
        double seconds = (System.nanoTime() - t0) / 1e9;
        double[] ms = latencies.stream().flatMapToLong(Arrays::stream).mapToDouble(v -> v / 1e6).sorted().toArray();
        return new Window(accepted.get(), seconds, ms);
    }

    private void submitAll(int n, String body) throws Exception {
        ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
        AtomicLong left = new AtomicLong(n);
        List<Future<?>> running = new ArrayList<>();
        for (int c = 0; c < CLIENTS; c++) {
            running.add(clients.submit(() -> {
                try (RawHttp http = http()) {
                    while (left.getAndDecrement() > 0) {
                        RawHttp.Response response = http.post("/tasks", body);
                        if (response.status() != 202) {
                            throw new IllegalStateException("submission answered " + response.status() + ": "
                                    + response.body());
                        }
                    }
                }
                return null;
            }));
        }
        for (Future<?> f : running) {
            f.get();
        }
        clients.shutdown();
    }

    /** Until no task is queued or in flight; polled gently, the figures come from the tasks' own timestamps. */
    private void awaitIdle(Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (count("QUEUED") == 0 && count("ASSIGNED") == 0 && count("RUNNING") == 0) {
                return;
            }
            TimeUnit.MILLISECONDS.sleep(500);
        }
        throw new IllegalStateException("tasks still in flight after " + timeout);
    }

    /** 0, 1, or "1 or more": whether any task is in {@code state}. */
    private int count(String state) throws IOException {
        try (RawHttp http = http()) {
            return json(http.get("/tasks?limit=1&state=" + state).body()).getJsonArray("tasks").size();
        }
    }

    /** The {@code n} newest tasks, as the list shows them. */
    private List<JsonObject> newest(int n) throws IOException {
        List<JsonObject> tasks = new ArrayList<>();
        String cursor = null;
        try (RawHttp http = http()) {
            while (tasks.size() < n) {
                JsonObject page = json(http.get("/tasks?limit=" + Math.min(1000, n - tasks.size())
                        + (cursor == null ? "" : "&cursor=" + cursor)).body());
                page.getJsonArray("tasks").getValuesAs(JsonObject.class).forEach(tasks::add);
                if (page.isNull("next")) {
                    break;
                }
                cursor = page.getString("next");
            }
        }
        return tasks;
    }

    // ---- processes ----

    private List<Long> agentPids() {
        List<Long> pids = new ArrayList<>();
        for (String id : cluster.agentIds()) {
            Process agent = cluster.agentProcess(id);
            if (agent != null && agent.isAlive()) {
                pids.add(agent.pid());
            }
        }
        return pids;
    }

    private double agentCpu() {
        return agentPids().stream().mapToDouble(ProcStat::cpuSeconds).sum();
    }

    private double maxAgentRss() {
        return agentPids().stream().mapToDouble(ProcStat::rssMib).max().orElse(Double.NaN);
    }

    /** A JFR command to a running JVM (jcmd), for profiles of exactly the measured part. */
    private static void jfr(long pid, String... command) throws Exception {
        List<String> line = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                Long.toString(pid)));
        line.addAll(List.of(command));
        run(line.toArray(String[]::new));
    }

    private static long heapAfterGcMib(long pid) {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        try {
            run(jcmd.toString(), Long.toString(pid), "GC.run");
            Matcher m = HEAP_USED.matcher(run(jcmd.toString(), Long.toString(pid), "GC.heap_info"));
            return m.find() ? Long.parseLong(m.group(1)) / 1024 : -1;
        } catch (Exception e) {
            return -1;
        }
    }

    private static String run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        process.waitFor(60, TimeUnit.SECONDS);
        return out;
    }

    // ---- output ----

    private void write(Path out, String db) throws IOException {
        Path file = out.resolve("results.json");
        Map<String, String> runs = new LinkedHashMap<>();
        if (Files.exists(file)) {
            try (JsonReader reader = Json.createReader(new StringReader(Files.readString(file)))) {
                reader.readObject().getJsonArray("runs").getValuesAs(JsonObject.class).forEach(run ->
                        runs.put(run.getString("label", "") + "/" + run.getString("db", ""), run.toString()));
            } catch (RuntimeException e) {
                // an unreadable earlier file is replaced
            }
        }
        runs.put(results.get("label") + "/" + db, toJson(results));
        Files.writeString(file, "{\"runs\":[\n" + String.join(",\n", runs.values()) + "\n]}\n");
        List<JsonObject> all = new ArrayList<>();
        for (String run : runs.values()) {
            all.add(json(run));
        }
        Files.writeString(out.resolve("results.svg"), Chart.svg(all));
        log("results: " + file + " and " + out.resolve("results.svg"));
        log(toJson(results));
    }

    private static String toJson(Map<String, Object> values) {
        var builder = Json.createObjectBuilder();
        values.forEach((key, value) -> {
            if (value instanceof Number number) {
                double d = number.doubleValue();
                if (Double.isNaN(d) || Double.isInfinite(d)) {
                    builder.addNull(key);
                } else if (value instanceof Double || value instanceof Float) {
                    builder.add(key, Math.round(d * 1000) / 1000.0);
                } else {
                    builder.add(key, number.longValue());
                }
            } else {
                builder.add(key, String.valueOf(value));
            }
        });
        return builder.build().toString();
    }

    private RawHttp http() {
        URI base = URI.create(cluster.config().apiBase());
        return new RawHttp(base.getHost(), base.getPort(), token);
    }

    static JsonObject json(String text) {
        try (JsonReader reader = Json.createReader(new StringReader(text))) {
            return reader.readObject();
        }
    }

    static double percentile(double[] sorted, int p) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int index = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, index))];
    }

    private static void log(String line) {
        System.out.println("[bench] " + line);
    }
}
