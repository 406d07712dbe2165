package io.taskgrid.it.bench;

import io.taskgrid.it.cluster.ClusterConfig;
import io.taskgrid.it.cluster.LocalCluster;
import io.taskgrid.it.cluster.PostgresServer;
import io.taskgrid.it.cluster.ServerLayout;
import io.taskgrid.it.cluster.TaskUser;
import jakarta.json.Json;
import jakarta.json.JsonArray;
import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import jakarta.json.JsonString;
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
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
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
 * default slots), black box over REST, CPU and memory from the processes' own counters in /proc, and the master alone
 * against 10, 100 and 1,000 simulated agents that speak the protocol and run nothing.
 *
 * <p>Phases ({@code --phases}, comma-separated; all by default, in this order whatever the order given):
 * <ul>
 * <li>{@code ready}: the master's time from a restart to /health/ready.</li>
 * <li>{@code e2e}: warm-up rounds until two consecutive rates differ by less than 5 % and the JIT takes less than 10 % of
 * the master's CPU (its own CPU per round is recorded, so the settling shows), then end-to-end tasks/s of {@code true}, its ratio to the floor, master and agent
 * CPU per task and each process's busiest threads. No profiler runs here.</li>
 * <li>{@code profile}: the same run again under JFR ({@code --profile DIR}), in a run of its own so that the profiler's
 * cost is in no figure.</li>
 * <li>{@code dispatch}: submitted to started, minus one spawn, at half the end-to-end rate.</li>
 * <li>{@code agentrss}: the agents' RSS after 10,000 tasks in all.</li>
 * <li>{@code agents}: the real agents stop; for each count of {@code --agents} (10,100,1000) simulated agents drain a
 * full queue: drain rate, master CPU per task, the master's busiest threads. The real agents start again after.</li>
 * <li>{@code intake}: with every worker busy, closed-loop submissions (8 and 64 keep-alive clients) near an empty queue
 * and again past 100,000 queued; the master's heap and RSS with that queue; a freed slot to the next task started.</li>
 * <li>{@code openloop}: submissions at fixed offered rates ({@code --open-rates}), latency from each request's due
 * time, so that a slow master shows in p99 instead of slowing the client down (coordinated omission).</li>
 * <li>{@code batch}: intake with batches of 1,000 submissions per request (tasks/s), when the master takes them.</li>
 * </ul>
 * With {@code --masters 2} (PostgreSQL only) a second master runs on the same database, as the README's "Running
 * several masters" sets it up, and the agents are split between the two (each agent given its own master first):
 * submissions go round robin to both, each master dispatches to its own agents, and the second master's CPU is
 * counted beside the first one's.
 *
 * <p>A phase needs what the earlier ones leave: {@code dispatch} runs at half the rate {@code e2e} measured (or {@code
 * --dispatch-rate}). Written to {@code OUT/results.json} and {@code OUT/results.svg}; no figure is judged here.
 *
 * <p>Usage: {@code Benchmark --liberty DIR --agent-jar JAR --out DIR [--db h2,postgresql] [--label TEXT]
 * [--scale full|smoke] [--phases LIST] [--agents 10,100,1000] [--open-rates 2000,5000,10000] [--workers 3]
 * [--http-port P] [--grpc-port P] [--prefetch N] [--profile DIR|none] [--master-env K=V]... [--masters 1|2]}
 */
public final class Benchmark {

    private static final Pattern HEAP_USED = Pattern.compile("used (\\d+)K");
    private static final String ALL_PHASES = "ready,e2e,profile,dispatch,agentrss,agents,intake,openloop,batch";
    private static final String TRUE = "{\"cmd\":\"true\"}";
    /** The master's batch bound: POST /tasks takes a JSON array of at most this many submissions. */
    static final int BATCH = 1000;
    /** How many threads of each process results.json lists. */
    private static final int TOP_THREADS = 10;

    private final Map<String, String> options;
    private final boolean smoke;
    private final Set<String> phases;
    private final Map<String, Object> results = new LinkedHashMap<>();
    private LocalCluster cluster;
    /** The second master with {@code --masters 2}, with half the agents; null otherwise. */
    private LocalCluster second;
    private final java.util.concurrent.atomic.AtomicInteger nextMaster = new java.util.concurrent.atomic.AtomicInteger();
    private String token;
    /** Whether the master takes a JSON array on POST /tasks; null until the first batch is tried. */
    private Boolean batchSubmit;
    /** Wall time of each phase run, so that a developer sees what a rerun of one costs. */
    private final Map<String, Double> phaseSeconds = new LinkedHashMap<>();
    private static final long STARTED = System.nanoTime();
    /** Tasks the real agents have run in this cluster so far (they count towards the RSS-after-tasks figure). */
    private long tasksThroughAgents;

    private Benchmark(Map<String, String> options) {
        this.options = options;
        this.smoke = "smoke".equals(options.getOrDefault("--scale", "full"));
        this.phases = new LinkedHashSet<>(Arrays.asList(options.getOrDefault("--phases", ALL_PHASES)
                .replace(" ", "").split(",")));
        Set<String> known = Set.of(ALL_PHASES.split(","));
        for (String phase : phases) {
            if (!known.contains(phase)) {
                throw new IllegalArgumentException("unknown phase " + phase + "; phases: " + ALL_PHASES);
            }
        }
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
        log("phases: " + phases);
        log("spawn floor ...");
        JsonObject floor2 = spawnFloor(2, smoke ? 2 : 6);
        JsonObject floor1 = spawnFloor(1, smoke ? 1 : 3);
        for (String db : options.getOrDefault("--db", "h2").split(",")) {
            results.clear();
            batchSubmit = null;
            tasksThroughAgents = 0;
            results.put("label", options.getOrDefault("--label", ""));
            results.put("db", db);
            results.put("scale", smoke ? "smoke" : "full");
            results.put("phases", String.join(",", phases));
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
    /** A phase that may throw anything; its wall time goes into {@code phaseSeconds}. */
    private interface Phase {
        void run() throws Exception;
    }

    private void timed(String name, Phase phase) throws Exception {
        long t0 = System.nanoTime();
        phase.run();
        phaseSeconds.put(name, (System.nanoTime() - t0) / 1e9);
    }

    private void runOn(String db, Path out) throws Exception {
        log("==== " + db + " ====");
        Path wlp = Path.of(options.get("--liberty"));
        Map<String, String> env = new LinkedHashMap<>();
        // Room for everything the intake phases leave queued (100,000 and more, plus the batches).
        env.put("TASKGRID_QUEUE_MAX", "600000");
        // The benchmark is the master's one caller: the queue's cap alone, no share per caller.
        env.put("TASKGRID_QUEUE_PER_CALLER_SHARE", "1");
        // 1,000 simulated agents, plus the real ones whose registrations may not be gone yet.
        env.put("TASKGRID_WORKERS_MAX", "1100");
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
                .workers(Integer.parseInt(options.getOrDefault("--workers", "3")))
                .slotsPerWorker(Integer.parseInt(options.getOrDefault("--slots", "1")))
                .prefetchPerWorker(Integer.parseInt(options.getOrDefault("--prefetch", "-1")))
                .ports(Integer.parseInt(options.getOrDefault("--http-port", "9092")),
                        Integer.parseInt(options.getOrDefault("--grpc-port", "50051")))
                .logDir(out.resolve("logs-" + db))
                .stateDir(out.resolve("agent-state-" + db))
                // What Taskgrid itself costs, next to the machine's spawn floor: tasks as the launcher's user by
                // default; --task-user auto measures the quick start's arrangement (a user switch and a PID namespace
                // per task).
                .taskUser(options.getOrDefault("--task-user", TaskUser.SAME));
        env.forEach(config::masterEnv);
        double spawnMs = (Double) results.get("spawnMedianMs");
        phaseSeconds.clear();
        int masters = Integer.parseInt(options.getOrDefault("--masters", "1"));
        if (masters == 2 && !db.equals("postgresql")) {
            throw new IllegalArgumentException("--masters 2 needs --db postgresql: H2 serves one master");
        }
        int agentsOfSecond = 0;
        if (masters == 2) {
            config.masterEnv("TASKGRID_MASTER_ID", "a");
            ClusterConfig one = config.build();
            agentsOfSecond = one.workers() / 2;
            config.workers(one.workers() - agentsOfSecond).agentMasters("127.0.0.1:" + one.grpcPort() + ",127.0.0.1:"
                    + (one.grpcPort() + 100));
        }
        long startAt = System.nanoTime();
        cluster = LocalCluster.start(config.build());
        token = cluster.apiToken();
        try {
            results.put("masters", masters);
            if (masters == 2) {
                second = startSecond(wlp, server, env, out.resolve("logs-" + db + "-b"), agentsOfSecond);
            }
            results.put("clusterStartSeconds", (System.nanoTime() - startAt) / 1e9);
            results.put("workers", workers());
            // -1: the agents' own default, one per slot.
            int prefetch = cluster.config().prefetchPerWorker();
            results.put("prefetch", prefetch < 0 ? cluster.config().slotsPerWorker() : prefetch);
            if (phases.contains("ready") && second == null) {
                timed("ready", this::masterReady);
            } else if (phases.contains("ready")) {
                // A restart of one master would send its agents to the other: a failover, not a restart.
                log("ready: not measured with two masters (a restart of the active one is a failover)");
            }
            TimeUnit.SECONDS.sleep(3);
            results.put("agentIdleRssMib", maxAgentRss());
            results.put("masterIdleRssMib", ProcStat.rssMib(cluster.masterPid()));
            boolean agents = cluster.config().workers() > 0;
            double tasksPerSecond = Double.NaN;
            if (agents && (phases.contains("e2e") || phases.contains("profile") || phases.contains("dispatch"))) {
                timed("warmup", this::warmUp);
            }
            if (agents && phases.contains("e2e")) {
                int n = Integer.parseInt(options.getOrDefault("--tasks", smoke ? "150" : "3000"));
                long t0 = System.nanoTime();
                tasksPerSecond = endToEnd(n);
                phaseSeconds.put("e2e", (System.nanoTime() - t0) / 1e9);
                // The machine's speed drifts (the floor measured 296/s and 510/s twenty minutes apart on one day):
                // the ratio is taken against a floor measured right after, with the cluster idle beside it.
                log("spawn floor again, right after the end-to-end run ...");
                JsonObject after = spawnFloor(2, smoke ? 1 : 4);
                double floorAfter = after.getJsonNumber("perSecond").doubleValue();
                results.put("floorAfterE2ePerSecond", floorAfter);
                results.put("floorAfterE2eCpuMsPerSpawn", after.getJsonNumber("cpuMsPerSpawn").doubleValue());
                results.put("e2eRatioToStartFloor", tasksPerSecond / (Double) results.get("floorPerSecond"));
                results.put("e2eRatioToFloor", tasksPerSecond / floorAfter);
            }
            if (agents && phases.contains("profile")) {
                timed("profile", () -> profiledRun(db, Integer.parseInt(options.getOrDefault("--tasks",
                        smoke ? "150" : "3000"))));
            }
            if (agents && phases.contains("dispatch")) {
                double rate = Double.isNaN(tasksPerSecond)
                        ? Double.parseDouble(options.getOrDefault("--dispatch-rate", "20")) * 2 : tasksPerSecond;
                timed("dispatch", () -> dispatchLatency(rate / 2, spawnMs, smoke ? 50 : 600));
            }
            if (agents && phases.contains("agentrss")) {
                timed("agentrss", () -> agentRssAfterTasks(smoke ? 300 : 10_000));
            }
            if (phases.contains("agents")) {
                timed("agents", this::simulatedAgents);
            }
            if (phases.contains("intake") || phases.contains("openloop") || phases.contains("batch")) {
                timed("intake", () -> intake(smoke ? 1 : 10, smoke ? 1_000 : 100_000));
            }
            results.put("agentRssAfterMib", maxAgentRss());
            var seconds = Json.createObjectBuilder();
            phaseSeconds.forEach((phase, s) -> seconds.add(phase, Math.round(s * 10) / 10.0));
            results.put("phaseSeconds", seconds.build());
            results.put("batchSubmit", batchSubmit == null ? "not tried" : batchSubmit ? "yes"
                    : "no: single POSTs with an Idempotency-Key instead");
        } finally {
            if (second != null) {
                second.close();
                second = null;
            }
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

    /**
     * Rounds of short tasks until the rate of two rounds in a row differs by less than 5 %, at most a fixed number of
     * rounds: a freshly started Liberty spends most of its first minute's CPU compiling, and a figure taken then is the
     * JIT's, not Taskgrid's. Each round's rate, master CPU per task and the master's JIT compiler threads' CPU are
     * kept, so that whether (and when) it settled is in the results rather than assumed.
     */
    private void warmUp() throws Exception {
        int round = smoke ? 30 : 500;
        int maxRounds = smoke ? 2 : 30;
        int minRounds = smoke ? 1 : 3;
        log("warming up: rounds of " + round + " tasks until two rates in a row differ by < 5 % and the JIT takes < "
                + "10 % of the master's CPU (at most " + maxRounds + " rounds) ...");
        JsonArrayBuilder rates = Json.createArrayBuilder();
        JsonArrayBuilder cpu = Json.createArrayBuilder();
        JsonArrayBuilder jit = Json.createArrayBuilder();
        long t0 = System.nanoTime();
        double previous = Double.NaN;
        boolean settled = false;
        int rounds = 0;
        while (rounds < maxRounds) {
            rounds++;
            long pid = cluster.masterPid();
            double cpu0 = ProcStat.cpuSeconds(pid);
            ThreadCpu threads = ThreadCpu.start(pid);
            double rate = runTasks(round);
            double cpuMs = (ProcStat.cpuSeconds(pid) - cpu0) * 1000 / round;
            double jitMs = threads.sinceStart().stream().filter(t -> t.name().startsWith("C1 Compiler")
                    || t.name().startsWith("C2 Compiler")).mapToDouble(ThreadCpu.Usage::cpuMs).sum();
            rates.add(round1(rate));
            cpu.add(round1(cpuMs));
            jit.add(Math.round(jitMs));
            log(String.format(Locale.ROOT, "  round %d: %.1f tasks/s, master %.2f ms CPU per task, JIT %.0f ms", rounds,
                    rate, cpuMs, jitMs));
            // A steady rate alone is not enough: on a slow machine the rate levels off (CPU-bound) while the master
            // still spends half its CPU compiling, and the figures after would be the JIT's.
            boolean jitSettled = jitMs < 0.10 * cpuMs * round;
            if (rounds >= minRounds && Math.abs(rate - previous) < 0.05 * previous && (smoke || jitSettled)) {
                settled = true;
                break;
            }
            previous = rate;
        }
        results.put("warmupRounds", rounds);
        results.put("warmupTasksPerRound", round);
        results.put("warmupSeconds", (System.nanoTime() - t0) / 1e9);
        results.put("warmupSettled", settled);
        results.put("warmupTasksPerSecond", rates.build());
        results.put("warmupMasterCpuMsPerTask", cpu.build());
        results.put("warmupMasterJitCpuMs", jit.build());
    }

    /** Submits {@code n} tasks of {@code true}, waits for them, and gives their rate from their own timestamps. */
    private double runTasks(int n) throws Exception {
        submit(n, TRUE);
        awaitIdle(Duration.ofMinutes(30));
        tasksThroughAgents += n;
        List<JsonObject> tasks = newest(n);
        Instant first = tasks.stream().map(t -> Instant.parse(t.getString("submittedAt"))).min(Instant::compareTo)
                .orElseThrow();
        Instant last = tasks.stream().filter(t -> t.get("finishedAt").getValueType() == JsonValue.ValueType.STRING)
                .map(t -> Instant.parse(t.getString("finishedAt"))).max(Instant::compareTo).orElseThrow();
        return n / (Math.max(1, Duration.between(first, last).toMillis()) / 1000.0);
    }

    private double endToEnd(int n) throws Exception {
        log("end to end: " + n + " tasks of `true` ...");
        long masterPid = cluster.masterPid();
        List<Long> agentPids = agentPids();
        double masterCpu0 = ProcStat.cpuSeconds(masterPid);
        double secondCpu0 = second == null ? 0 : ProcStat.cpuSeconds(second.masterPid());
        double agentCpu0 = agentCpu();
        double agentJvmCpu0 = agentJvmCpu();
        ThreadCpu masterThreads = ThreadCpu.start(masterPid);
        Map<Long, ThreadCpu> agentThreads = new LinkedHashMap<>();
        agentPids.forEach(pid -> agentThreads.put(pid, ThreadCpu.start(pid)));
        submit(n, TRUE);
        awaitIdle(Duration.ofMinutes(30));
        tasksThroughAgents += n;
        double masterCpu = ProcStat.cpuSeconds(masterPid) - masterCpu0;
        if (second != null) {
            double secondCpu = ProcStat.cpuSeconds(second.masterPid()) - secondCpu0;
            results.put("secondCpuMsPerTask", secondCpu * 1000 / n);
            log(String.format(Locale.ROOT, "  the second master (half the submissions and agents): %.2f ms CPU per task",
                    secondCpu * 1000 / n));
        }
        double agentCpu = agentCpu() - agentCpu0;
        double agentJvmCpu = agentJvmCpu() - agentJvmCpu0;
        List<ThreadCpu.Usage> master = masterThreads.sinceStart();
        Map<Long, List<ThreadCpu.Usage>> agentUsage = new LinkedHashMap<>();
        agentThreads.forEach((pid, threads) -> agentUsage.put(pid, threads.sinceStart()));
        // Full Java thread names only now: the thread dump that gives them costs the JVM CPU of its own.
        master = ThreadCpu.withJavaNames(master, ThreadCpu.javaNames(masterPid));
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
        results.put("agentJvmCpuMsPerTask", agentJvmCpu * 1000 / n);
        results.put("e2eMasterThreads", ThreadCpu.json(master, TOP_THREADS, n));
        results.put("e2eMasterThreadPools", ThreadCpu.json(ThreadCpu.byPool(master), TOP_THREADS, n));
        var agents = Json.createObjectBuilder();
        int i = 0;
        for (Map.Entry<Long, List<ThreadCpu.Usage>> agent : agentUsage.entrySet()) {
            agents.add("agent" + ++i, ThreadCpu.json(ThreadCpu.withJavaNames(agent.getValue(),
                    ThreadCpu.javaNames(agent.getKey())), TOP_THREADS, n));
        }
        results.put("e2eAgentThreads", agents.build());
        log(String.format(Locale.ROOT, "  %.1f tasks/s; CPU per task: master %.2f ms, agents %.2f ms (JVMs alone "
                + "%.2f ms); %d not succeeded", rate, masterCpu * 1000 / n, agentCpu * 1000 / n, agentJvmCpu * 1000 / n,
                failed));
        log("  master's busiest threads: " + master.subList(0, Math.min(5, master.size())));
        return rate;
    }

    /** The end-to-end run again, under JFR in the master and every agent; none of its figures is kept. */
    private void profiledRun(String db, int n) throws Exception {
        String profileDir = options.getOrDefault("--profile", "none");
        if (profileDir.isBlank() || profileDir.equals("none")) {
            return;
        }
        Path profile = Path.of(profileDir);
        Files.createDirectories(profile);
        log("profiled run: " + n + " tasks of `true` under JFR (no figure kept) ...");
        jfr(cluster.masterPid(), "JFR.start", "name=bench", "settings=profile");
        List<Long> agents = agentPids();
        for (long agent : agents) {
            jfr(agent, "JFR.start", "name=bench", "settings=profile");
        }
        submit(n, TRUE);
        awaitIdle(Duration.ofMinutes(30));
        tasksThroughAgents += n;
        jfr(cluster.masterPid(), "JFR.stop", "name=bench", "filename=" + profile.resolve("master-" + db + ".jfr"));
        int i = 0;
        for (long agent : agents) {
            i++;
            jfr(agent, "JFR.stop", "name=bench", "filename=" + profile.resolve("agent" + i + "-" + db + ".jfr"));
        }
        results.put("profiledTasks", n);
        log("  profiles in " + profile);
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
                RawHttp.Response response = http.post("/tasks", TRUE);
                if (response.status() != 202) {
                    throw new IllegalStateException("submission refused: " + response.status() + " " + response.body());
                }
            }
        }
        awaitIdle(Duration.ofMinutes(10));
        tasksThroughAgents += count;
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

    /** The agents' RSS once they have run {@code total} tasks in all (counting every earlier phase's). */
    private void agentRssAfterTasks(int total) throws Exception {
        long more = Math.max(0, total - tasksThroughAgents);
        log("agent RSS after " + total + " tasks: " + more + " more ...");
        while (more > 0) {
            int n = (int) Math.min(more, 2_000);
            submit(n, TRUE);
            awaitIdle(Duration.ofMinutes(30));
            tasksThroughAgents += n;
            more -= n;
        }
        results.put("agentRssTasks", tasksThroughAgents);
        results.put("agentRssAfterTasksMib", maxAgentRss());
        log(String.format(Locale.ROOT, "  after %d tasks: largest agent RSS %.0f MiB", tasksThroughAgents,
                maxAgentRss()));
    }

    /**
     * The master alone against many agents: the real agents stop; then, for each count, that many simulated agents
     * (protocol only, one slot, prefetch one, nothing run) connect to a queue filled beforehand, hold what they are
     * given until all are registered, and then drain the queue. Drain rate and master CPU per task for each count;
     * the real agents start again after.
     */
    private void simulatedAgents() throws Exception {
        int[] counts = Arrays.stream(options.getOrDefault("--agents", smoke ? "10,50" : "10,100,1000").split(","))
                .mapToInt(Integer::parseInt).toArray();
        int tasks = Integer.parseInt(options.getOrDefault("--agent-tasks", smoke ? "500" : "20000"));
        // SIGTERM to all at once, then wait for each: they drain side by side instead of one after another.
        List<String> running = cluster.agentIds();
        for (String id : running) {
            Process agent = cluster.agentProcess(id);
            if (agent != null) {
                agent.toHandle().destroy();
            }
        }
        for (String id : running) {
            cluster.stopAgent(id);
        }
        awaitConnectedWorkers(0, Duration.ofSeconds(60));
        awaitIdle(Duration.ofMinutes(5));
        JsonArrayBuilder all = Json.createArrayBuilder();
        for (int n : counts) {
            log("simulated agents: " + n + " agents drain " + tasks + " queued tasks ...");
            fill(tasks);
            long queuedAtStart = masterQueued();
            long connectStart = System.nanoTime();
            URI grpc = URI.create("http://" + cluster.config().grpcTarget());
            double drainRate;
            double cpuMs;
            List<ThreadCpu.Usage> threads;
            var round = Json.createObjectBuilder().add("agents", n).add("tasks", tasks).add("queuedAtStart",
                    queuedAtStart);
            try (SimulatedAgents sim = SimulatedAgents.connect(grpc.getHost(), grpc.getPort(), cluster.joinToken(),
                    "bench-sim" + n, n, Duration.ofSeconds(smoke ? 60 : 180))) {
                double connectSeconds = (System.nanoTime() - connectStart) / 1e9;
                long pid = cluster.masterPid();
                double cpu0 = ProcStat.cpuSeconds(pid);
                ThreadCpu masterThreads = ThreadCpu.start(pid);
                long t0 = System.nanoTime();
                sim.go();
                boolean drained = sim.awaitTaken(tasks, Duration.ofMinutes(smoke ? 2 : 10));
                long t1 = sim.lastTakenNanos.get();
                cpuMs = (ProcStat.cpuSeconds(pid) - cpu0) * 1000;
                threads = ThreadCpu.withJavaNames(masterThreads.sinceStart(), ThreadCpu.javaNames(pid));
                long taken = sim.taken.get();
                drainRate = taken / Math.max(1e-3, (t1 - t0) / 1e9);
                round.add("connectSeconds", round3(connectSeconds))
                        .add("drained", drained)
                        .add("taken", taken)
                        .add("refused", sim.refused.get())
                        .add("retried", sim.retried.get())
                        .add("streamsEnded", sim.streamsEnded.get())
                        .add("drainPerSecond", round1(drainRate))
                        .add("masterCpuMsPerTask", round3(cpuMs / Math.max(1, taken)))
                        .add("masterThreads", ThreadCpu.json(threads, TOP_THREADS, taken))
                        .add("masterThreadPools", ThreadCpu.json(ThreadCpu.byPool(threads), TOP_THREADS, taken));
                if (sim.firstFailure.get() != null) {
                    round.add("firstFailure", sim.firstFailure.get());
                }
                results.put("sim" + n + "DrainPerSecond", drainRate);
                results.put("sim" + n + "MasterCpuMsPerTask", cpuMs / Math.max(1, taken));
                log(String.format(Locale.ROOT, "  %d agents (connected in %.1f s): %.0f tasks/s, master %.3f ms CPU "
                        + "per task; %d taken, %d refused, %d retried%s", n, connectSeconds, drainRate,
                        cpuMs / Math.max(1, taken), taken, sim.refused.get(), sim.retried.get(),
                        sim.firstFailure.get() == null ? "" : "; first failure: " + sim.firstFailure.get()));
                if (!drained) {
                    log("  NOT DRAINED: " + (tasks - taken) + " of " + tasks + " not taken");
                }
            }
            all.add(round);
            awaitConnectedWorkers(0, Duration.ofSeconds(60));
        }
        results.put("simAgents", all.build());
        if (cluster.config().workers() > 0) {
            cluster.ensureAllRunning();
        }
    }

    /**
     * Intake over REST while no task can start (every slot busy with a long task), so that what is measured is the
     * master taking submissions: closed-loop with 8 and 64 clients near an empty queue, at fixed offered rates (open
     * loop), then again past {@code fillTo} queued, the master's memory with that queue, a freed slot to the next task
     * started, and batches of 1,000.
     */
    private void intake(int seconds, int fillTo) throws Exception {
        int slots = workers() * cluster.config().slotsPerWorker();
        List<String> blockers = new ArrayList<>();
        if (slots > 0) {
            log("intake: every worker busy (" + slots + " sleeping tasks) ...");
            try (RawHttp http = http()) {
                for (int i = 0; i < slots; i++) {
                    blockers.add(json(http.post("/tasks", "{\"cmd\":\"sleep 3600\"}").body()).getString("id"));
                }
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (count("RUNNING", slots) < slots && System.nanoTime() < deadline) {
                    TimeUnit.MILLISECONDS.sleep(100);
                }
            }
        } else {
            log("intake: no worker connected, nothing starts ...");
        }
        submit(100, TRUE);
        long queued = 100;
        if (phases.contains("intake")) {
            for (int clients : new int[]{8, 64}) {
                Window low = submitFor(clients, Duration.ofSeconds(seconds), Long.MAX_VALUE);
                String key = clients == 8 ? "intakeLow" : "intakeLow" + clients;
                results.put(key + "Queued", queued);
                results.put(key + "PerSecond", low.rate());
                results.put(key + "P50Ms", low.p50());
                results.put(key + "P99Ms", low.p99());
                results.put(key + "Errors", low.errors());
                queued += low.accepted();
                log(String.format(Locale.ROOT, "  near an empty queue, %d clients: %.0f/s, p50 %.1f ms, p99 %.1f ms, "
                        + "%d errors", clients, low.rate(), low.p50(), low.p99(), low.errors()));
            }
        }
        if (phases.contains("openloop")) {
            queued += openLoop(seconds, queued);
        }
        if (phases.contains("intake")) {
            log("  filling the queue to " + fillTo + " ...");
            if (queued < fillTo) {
                fill((int) (fillTo - queued));
                queued = fillTo;
            }
            for (int clients : new int[]{8, 64}) {
                Window high = submitFor(clients, Duration.ofSeconds(seconds), Long.MAX_VALUE);
                String key = clients == 8 ? "intakeHigh" : "intakeHigh" + clients;
                results.put(key + "Queued", queued);
                results.put(key + "PerSecond", high.rate());
                results.put(key + "P50Ms", high.p50());
                results.put(key + "P99Ms", high.p99());
                results.put(key + "Errors", high.errors());
                log(String.format(Locale.ROOT, "  from %d queued, %d clients: %.0f/s, p50 %.1f ms, p99 %.1f ms, "
                        + "%d errors", queued, clients, high.rate(), high.p50(), high.p99(), high.errors()));
                queued += high.accepted();
            }

            long pid = cluster.masterPid();
            results.put("queuedForMemory", queued);
            results.put("masterQueuedForMemory", masterQueued());
            results.put("masterHeapWithQueueMib", heapAfterGcMib(pid));
            results.put("masterRssWithQueueMib", ProcStat.rssMib(pid));
            log("  master heap after a full GC with " + queued + " queued: " + results.get("masterHeapWithQueueMib")
                    + " MiB, RSS " + String.format(Locale.ROOT, "%.0f", ProcStat.rssMib(pid)) + " MiB");
            if (!blockers.isEmpty()) {
                slotFreeToNextStart(blockers.get(0), queued);
            }
        }
        if (phases.contains("batch")) {
            queued += batchIntake(seconds, queued);
        }
    }

    /** One slot comes free: how long until the oldest of the queued tasks starts? */
    /**
     * Cancels one busy worker's {@code sleep} with the queue full and finds the first task started after: from the
     * DELETE (the whole cancel path: the dispatcher, the cancel down the stream, TERM to the group, the agent seeing it
     * gone) and from the blocker's end as the master recorded it (the freed slot itself, where a prefetched task shows).
     * Both ends of the second are the master's clock; it may come out a millisecond below zero, as an agent starts
     * what it holds before its report of the ended one reaches the master.
     */
    private void slotFreeToNextStart(String blocker, long queued) throws Exception {
        try (RawHttp http = http()) {
            long t0 = System.currentTimeMillis();
            http.delete("/tasks/" + blocker);
            TimeUnit.SECONDS.sleep(2);
            long first = json(http.get("/tasks?state=SUCCEEDED&limit=200").body()).getJsonArray("tasks")
                    .getValuesAs(JsonObject.class).stream()
                    .filter(t -> t.get("startedAt").getValueType() == JsonValue.ValueType.STRING)
                    .mapToLong(t -> Instant.parse(t.getString("startedAt")).toEpochMilli())
                    .filter(started -> started >= t0).min().orElse(-1);
            JsonObject ended = json(http.get("/tasks/" + blocker).body());
            if (first >= 0) {
                results.put("slotFreeToNextStartWithQueueMs", first - t0);
                log("  a cancel freed a slot: the next of " + queued + " queued tasks started " + (first - t0)
                        + " ms after the DELETE");
                if (ended.get("finishedAt") != null
                        && ended.get("finishedAt").getValueType() == JsonValue.ValueType.STRING) {
                    long freed = Instant.parse(ended.getString("finishedAt")).toEpochMilli();
                    results.put("slotEndToNextStartWithQueueMs", first - freed);
                    log("  ... and " + (first - freed) + " ms after the cancelled task's end as the master recorded it");
                }
            } else {
                log("  a freed slot: no task of the queue had started 2 s later");
            }
        }
    }

    /** Each offered rate of {@code --open-rates} for {@code seconds}; returns how many were accepted in all. */
    private long openLoop(int seconds, long queued) throws Exception {
        double[] rates = Arrays.stream(options.getOrDefault("--open-rates", smoke ? "100,300" : "2000,5000,10000")
                .split(",")).mapToDouble(Double::parseDouble).toArray();
        int connections = 64;
        JsonArrayBuilder all = Json.createArrayBuilder();
        long accepted = 0;
        for (double rate : rates) {
            OpenLoop.Result r = OpenLoop.run(this::http, TRUE, rate, seconds, connections);
            all.add(Json.createObjectBuilder()
                    .add("offeredPerSecond", rate)
                    .add("queuedBefore", queued + accepted)
                    .add("achievedPerSecond", round1(r.achievedPerSecond()))
                    .add("p50Ms", round3(r.p50()))
                    .add("p99Ms", round3(r.p99()))
                    .add("sent", r.sent())
                    .add("accepted", r.accepted())
                    .add("errors", r.errors())
                    .add("unsent", r.unsent()));
            results.put("intakeOpen" + (long) rate + "AchievedPerSecond", r.achievedPerSecond());
            results.put("intakeOpen" + (long) rate + "P99Ms", r.p99());
            log(String.format(Locale.ROOT, "  open loop, %.0f/s offered over %d connections: %.0f/s accepted, p50 "
                    + "%.1f ms, p99 %.1f ms (from each request's due time), %d errors, %d unsent", rate, connections,
                    r.achievedPerSecond(), r.p50(), r.p99(), r.errors(), r.unsent()));
            accepted += r.accepted();
        }
        results.put("intakeOpenLoop", all.build());
        return accepted;
    }

    /**
     * Batches of {@value #BATCH} submissions per request from 4 keep-alive clients for {@code seconds} (or until the
     * queue nears its cap); tasks/s and the latency of whole requests. Skipped, and said so, when the master takes no
     * batches.
     */
    private long batchIntake(int seconds, long queued) throws Exception {
        String batch = batchBody(TRUE, BATCH);
        if (!probeBatch()) {
            log("  batches: the master takes no JSON array on POST /tasks; not measured");
            return 0;
        }
        int clients = 4;
        long room = Math.max(0, 550_000 - queued) / BATCH;
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        ConcurrentLinkedQueue<long[]> latencies = new ConcurrentLinkedQueue<>();
        AtomicLong requests = new AtomicLong();
        AtomicLong accepted = new AtomicLong();
        AtomicLong errors = new AtomicLong();
        long t0 = System.nanoTime();
        long deadline = t0 + TimeUnit.SECONDS.toNanos(seconds);
        List<Future<?>> running = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            running.add(pool.submit(() -> {
                long[] mine = new long[1 << 16];
                int n = 0;
                RawHttp http = http();
                try {
                    while (System.nanoTime() < deadline && n < mine.length && requests.incrementAndGet() <= room) {
                        long s = System.nanoTime();
                        try {
                            RawHttp.Response response = http.post("/tasks", batch);
                            if (response.status() == 202) {
                                int ids = idsOf(response.body()).size();
                                accepted.addAndGet(ids);
                                if (ids != BATCH) {
                                    throw new IllegalStateException("a batch of " + BATCH + " answered with " + ids
                                            + " ids");
                                }
                            } else {
                                errors.incrementAndGet();
                            }
                        } catch (IOException e) {
                            errors.incrementAndGet();
                            http.close();
                        }
                        mine[n++] = System.nanoTime() - s;
                    }
                } finally {
                    http.close();
                    latencies.add(Arrays.copyOf(mine, n));
                }
                return null;
            }));
        }
        for (Future<?> f : running) {
            f.get();
        }
        pool.shutdown();
        double elapsed = (System.nanoTime() - t0) / 1e9;
        double[] ms = latencies.stream().flatMapToLong(Arrays::stream).mapToDouble(v -> v / 1e6).sorted().toArray();
        results.put("intakeBatchQueuedBefore", queued);
        results.put("intakeBatchTasksPerSecond", accepted.get() / elapsed);
        results.put("intakeBatchRequestP50Ms", percentile(ms, 50));
        results.put("intakeBatchRequestP99Ms", percentile(ms, 99));
        results.put("intakeBatchErrors", errors.get());
        log(String.format(Locale.ROOT, "  batches of %d, %d clients: %.0f tasks/s, a request p50 %.1f ms, p99 %.1f ms, "
                + "%d errors", BATCH, clients, accepted.get() / elapsed, percentile(ms, 50), percentile(ms, 99),
                errors.get()));
        return accepted.get();
    }

    // ---- load generation ----

    /** Submissions of one window: how many went through, how many failed, and their latencies. */
    private record Window(long accepted, long errors, double seconds, double[] latenciesMs) {
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

    /**
     * {@code clients} keep-alive clients submit as fast as they can (closed loop) for {@code duration}, or until
     * {@code limit} are accepted. A request is never sent twice (no Idempotency-Key here: it would be another code
     * path than the one measured): an answer other than 202, or a broken connection, counts as an error, and a 503
     * (the queue is full) ends the window.
     */
    private Window submitFor(int clients, Duration duration, long limit) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        ConcurrentLinkedQueue<long[]> latencies = new ConcurrentLinkedQueue<>();
        AtomicLong accepted = new AtomicLong();
        AtomicLong errors = new AtomicLong();
        AtomicBoolean stop = new AtomicBoolean();
        long deadline = System.nanoTime() + duration.toNanos();
        long t0 = System.nanoTime();
        List<Future<?>> running = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            running.add(pool.submit(() -> {
                long[] mine = new long[1 << 20];
                int n = 0;
                try (RawHttp http = http()) {
                    while (!stop.get() && System.nanoTime() < deadline && n < mine.length) {
                        long s = System.nanoTime();
                        try {
                            RawHttp.Response response = http.post("/tasks", TRUE);
                            if (response.status() == 202) {
                                if (accepted.incrementAndGet() >= limit) {
                                    stop.set(true);
                                }
                            } else {
                                errors.incrementAndGet();
                                if (response.status() == 503) {
                                    stop.set(true);
                                }
                            }
                        } catch (IOException e) {
                            errors.incrementAndGet();
                            http.close();
                        }
                        mine[n++] = System.nanoTime() - s;
                    }
                }
                latencies.add(Arrays.copyOf(mine, n));
                return null;
            }));
        }
        for (Future<?> f : running) {
            f.get();
        }
        pool.shutdown();
        double seconds = (System.nanoTime() - t0) / 1e9;
        double[] ms = latencies.stream().flatMapToLong(Arrays::stream).mapToDouble(v -> v / 1e6).sorted().toArray();
        return new Window(accepted.get(), errors.get(), seconds, ms);
    }

    /**
     * Submits exactly {@code n} tasks one per request from 8 clients, each request once: the measured phases count
     * the tasks afterwards, so a request that failed or may have created a task is an error that ends the run.
     */
    private void submit(int n, String body) throws Exception {
        int clients = 8;
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        AtomicLong left = new AtomicLong(n);
        List<Future<?>> running = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            running.add(pool.submit(() -> {
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
        try {
            for (Future<?> f : running) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Queues {@code n} tasks of {@code true} as fast as the master takes them, not measured: in batches of
     * {@value #BATCH} when the master takes them, else one per request with an Idempotency-Key (so that a request
     * lost with its connection can be sent again without creating its task twice).
     */
    private void fill(int n) throws Exception {
        if (n <= 0) {
            return;
        }
        int clients = 4;
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        AtomicLong left = new AtomicLong(n);
        boolean probing = batchSubmit == null;
        boolean batches = probeBatch();
        if (batches && probing) {
            left.addAndGet(-1);   // the probe, asked just now, queued one
        }
        String run = UUID.randomUUID().toString();
        AtomicLong keys = new AtomicLong();
        List<Future<?>> running = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            running.add(pool.submit(() -> {
                try (RawHttp http = http()) {
                    while (true) {
                        long before = left.get();
                        if (before <= 0) {
                            break;
                        }
                        int take = batches ? (int) Math.min(BATCH, before) : 1;
                        if (!left.compareAndSet(before, before - take)) {
                            continue;
                        }
                        if (batches) {
                            RawHttp.Response response = http.post("/tasks", batchBody(TRUE, take));
                            if (response.status() != 202 || idsOf(response.body()).size() != take) {
                                throw new IllegalStateException("a batch of " + take + " answered " + response.status()
                                        + ": " + abbreviate(response.body()));
                            }
                        } else {
                            RawHttp.Response response = http.post("/tasks", TRUE,
                                    "bench-" + run + "-" + keys.incrementAndGet());
                            if (response.status() != 202 && response.status() != 200) {
                                throw new IllegalStateException("submission answered " + response.status() + ": "
                                        + abbreviate(response.body()));
                            }
                        }
                    }
                }
                return null;
            }));
        }
        try {
            for (Future<?> f : running) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Whether the master takes a JSON array on POST /tasks, asked once with a batch of one (which, when taken, queues
     * one task: callers count it). A master without batch submit refuses the array as a malformed submission.
     */
    private boolean probeBatch() throws IOException {
        if (batchSubmit == null) {
            try (RawHttp http = http()) {
                RawHttp.Response response = http.post("/tasks", batchBody(TRUE, 1));
                if (response.status() == 202) {
                    if (idsOf(response.body()).size() != 1) {
                        throw new IllegalStateException("a batch of one answered without one id: "
                                + abbreviate(response.body()));
                    }
                    batchSubmit = true;
                } else if (response.status() / 100 == 4) {
                    batchSubmit = false;
                } else {
                    throw new IllegalStateException("a batch of one answered " + response.status() + ": "
                            + abbreviate(response.body()));
                }
                log("  batch submit: " + (batchSubmit ? "yes" : "no (" + response.status() + ")"));
            }
        }
        return batchSubmit;
    }

    static String batchBody(String submission, int n) {
        StringBuilder body = new StringBuilder(n * (submission.length() + 1) + 2).append('[');
        for (int i = 0; i < n; i++) {
            body.append(i == 0 ? "" : ",").append(submission);
        }
        return body.append(']').toString();
    }

    /**
     * The task ids of a batch's 202 answer, in order: a JSON array of ids (or of objects with an "id"), or an object
     * holding such an array under "ids", "tasks" or "items". Anything else is an answer the benchmark cannot count, an
     * error rather than a guess.
     */
    static List<String> idsOf(String body) {
        JsonValue value;
        try (JsonReader reader = Json.createReader(new StringReader(body))) {
            value = reader.readValue();
        }
        if (value instanceof JsonObject object) {
            for (String key : List.of("ids", "tasks", "items")) {
                if (object.get(key) instanceof JsonArray array) {
                    return idsOf(array.toString());
                }
            }
            throw new IllegalStateException("a batch answer without its ids: " + abbreviate(body));
        }
        if (!(value instanceof JsonArray array)) {
            throw new IllegalStateException("a batch answer without its ids: " + abbreviate(body));
        }
        List<String> ids = new ArrayList<>(array.size());
        for (JsonValue item : array) {
            if (item instanceof JsonString id) {
                ids.add(id.getString());
            } else if (item instanceof JsonObject task && task.get("id") instanceof JsonString id) {
                ids.add(id.getString());
            } else {
                throw new IllegalStateException("a batch answer with an entry that is no id: " + abbreviate(body));
            }
        }
        return ids;
    }

    private static String abbreviate(String text) {
        return text.length() <= 300 ? text : text.substring(0, 300) + "...";
    }

    /** Until no task is queued or in flight; polled gently, the figures come from the tasks' own timestamps. */
    private void awaitIdle(Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (count("QUEUED") == 0 && count("ASSIGNED") == 0 && count("RUNNING") == 0) {
                return;
            }
            TimeUnit.MILLISECONDS.sleep(200);
        }
        throw new IllegalStateException("tasks still in flight after " + timeout);
    }

    private void awaitConnectedWorkers(int n, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        int seen = -1;
        while (System.nanoTime() < deadline) {
            seen = cluster.connectedWorkers();
            if (seen == n) {
                return;
            }
            TimeUnit.MILLISECONDS.sleep(200);
        }
        throw new IllegalStateException("expected " + n + " connected workers, saw " + seen);
    }

    /**
     * The queue depth as the master counts it (GET /tasks/counts), or -1 when it gives none. The answer may be up to a
     * second old (the master shares one count among its callers), so this waits that second out first.
     */
    private long masterQueued() throws Exception {
        TimeUnit.MILLISECONDS.sleep(1100);
        try (RawHttp http = activeHttp()) {
            RawHttp.Response response = http.get("/tasks/counts");
            if (response.status() != 200) {
                return -1;
            }
            JsonValue queued = json(response.body()).get("queued");
            return queued instanceof JsonNumber number ? number.longValue() : -1;
        }
    }

    /** 0, 1, or "1 or more": whether any task is in {@code state}. */
    private int count(String state) throws IOException {
        return count(state, 1);
    }

    /** How many tasks are in {@code state}, counted up to {@code upTo} (one page of the list). */
    private int count(String state, int upTo) throws IOException {
        try (RawHttp http = activeHttp()) {
            return json(http.get("/tasks?limit=" + upTo + "&state=" + state).body()).getJsonArray("tasks").size();
        }
    }

    /** The {@code n} newest tasks, as the list shows them. */
    private List<JsonObject> newest(int n) throws IOException {
        List<JsonObject> tasks = new ArrayList<>();
        String cursor = null;
        try (RawHttp http = activeHttp()) {
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
        for (LocalCluster master : second == null ? List.of(cluster) : List.of(cluster, second)) {
            for (String id : master.agentIds()) {
                Process agent = master.agentProcess(id);
                if (agent != null && agent.isAlive()) {
                    pids.add(agent.pid());
                }
            }
        }
        return pids;
    }

    private double agentCpu() {
        return agentPids().stream().mapToDouble(ProcStat::cpuSeconds).sum();
    }

    private double agentJvmCpu() {
        return agentPids().stream().mapToDouble(ProcStat::ownCpuSeconds).sum();
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
            if (value instanceof JsonValue json) {
                builder.add(key, json);
            } else if (value instanceof Boolean bool) {
                builder.add(key, bool);
            } else if (value instanceof Number number) {
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

    /** A connection for submissions: to the one master, or round robin over both with {@code --masters 2}. */
    private RawHttp http() {
        LocalCluster to = second != null && nextMaster.getAndIncrement() % 2 == 1 ? second : cluster;
        URI base = URI.create(to.config().apiBase());
        return new RawHttp(base.getHost(), base.getPort(), token);
    }

    /** A connection to the active master, for what only its memory knows (its queue, say). */
    private RawHttp activeHttp() {
        URI base = URI.create(cluster.config().apiBase());
        return new RawHttp(base.getHost(), base.getPort(), token);
    }

    /** Agents of both masters. */
    private int workers() {
        return cluster.config().workers() + (second == null ? 0 : second.config().workers());
    }

    /** The second master: same database, same tokens and key files, {@code agents} of its own, 100 ports above. */
    private LocalCluster startSecond(Path wlp, String server, Map<String, String> env, Path logs, int agents) {
        String name = server + "-b";
        ServerLayout.copyOfBuildServer(wlp, name, Map.of("taskgrid.db", "postgresql"), env);
        ClusterConfig one = cluster.config();
        ClusterConfig.Builder config = ClusterConfig.builder(wlp, Path.of(options.get("--agent-jar")))
                .serverName(name).workers(agents).mayStandBy(true).baseWorkerId("b-w")
                .slotsPerWorker(one.slotsPerWorker()).prefetchPerWorker(one.prefetchPerWorker())
                .taskUser(options.getOrDefault("--task-user", TaskUser.SAME))
                .agentMasters("127.0.0.1:" + (one.grpcPort() + 100) + ",127.0.0.1:" + one.grpcPort())
                .ports(one.apiPort() + 100, one.grpcPort() + 100)
                .logDir(logs).stateDir(logs.resolve("state"))
                .masterEnv("TASKGRID_MASTER_ID", "b")
                .masterEnv("TASKGRID_HOME", wlp.resolve("usr/servers/" + server).toString());
        env.forEach(config::masterEnv);
        log("a second master on the same database, at " + config.build().apiBase() + ", with " + agents + " agents");
        return LocalCluster.start(config.build());
    }

    static JsonObject json(String text) {
        try (JsonReader reader = Json.createReader(new StringReader(text))) {
            return reader.readObject();
        }
    }

    /** {@code v} to one decimal as JSON; null when it is not a number (JSON has no NaN). */
    private static JsonValue round1(double v) {
        return Double.isFinite(v) ? Json.createValue(Math.round(v * 10) / 10.0) : JsonValue.NULL;
    }

    /** {@code v} to three decimals as JSON; null when it is not a number. */
    private static JsonValue round3(double v) {
        return Double.isFinite(v) ? Json.createValue(Math.round(v * 1000) / 1000.0) : JsonValue.NULL;
    }

    static double percentile(double[] sorted, int p) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int index = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, index))];
    }

    private static void log(String line) {
        System.out.printf(Locale.ROOT, "[bench %6.1fs] %s%n", (System.nanoTime() - STARTED) / 1e9, line);
    }
}
