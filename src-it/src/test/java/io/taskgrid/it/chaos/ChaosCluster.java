package io.taskgrid.it.chaos;

import com.github.dockerjava.api.DockerClient;
import io.taskgrid.it.TaskgridClient;
import io.taskgrid.it.cluster.InitialCredentials;
import io.taskgrid.it.cluster.ServerLayout;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.BindMode;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.Network;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.utility.DockerImageName;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A master and N agents, each in its own container on one Docker network, from the locally built runtime image. The
 * master's Liberty and the agent jar come from the build, mounted read-only; the master's database lives in a host
 * folder, so a new master container after a kill finds every task. Tasks write to a markers folder mounted into
 * every agent, which is how a test counts from outside what really ran.
 *
 * <p>{@link #onPostgres} makes the other shape: several masters sharing one PostgreSQL container, set up as the
 * docs/operations.md's "Running several masters" says (one database, one shared home for the tokens and key files, a name each,
 * agents given every master's address). The database sits on a network of its own, which each master joins besides
 * the agents' one, so that a test can cut one master off from the database alone, as a real partition does: packets
 * dropped, no connection closed.
 */
final class ChaosCluster implements AutoCloseable {

    static final DockerImageName IMAGE = DockerImageName.parse("taskgrid/runtime:17");
    static final DockerImageName POSTGRES_IMAGE = DockerImageName.parse("taskgrid/postgres:15");
    private static final int HTTP = 9092;
    /** The build's own server, on H2; {@link #onPostgres} lays out a copy that picks PostgreSQL. */
    private static final String H2_SERVER = "taskgrid";
    private static final String POSTGRES_SERVER = "taskgrid-chaos-pg";

    private final Network network = Network.newNetwork();
    private final Path wlp = Path.of(System.getProperty("taskgrid.wlp.dir"));
    private final Path agentJar = Path.of(System.getProperty("taskgrid.agent.jar"));
    private final Path workDir;
    private final Map<String, String> masterEnv;
    /** By name: "master" alone on H2, or the names given to {@link #onPostgres}. */
    private final Map<String, GenericContainer<?>> masters = new ConcurrentHashMap<>();
    private final List<String> masterNames;
    private final Map<String, GenericContainer<?>> agents = new LinkedHashMap<>();
    private final Map<String, Integer> masterGenerations = new ConcurrentHashMap<>();
    private Network databaseNetwork;
    private GenericContainer<?> postgres;

    ChaosCluster(String name, Map<String, String> masterEnv) {
        this(name, masterEnv, List.of("master"));
    }

    /** Skips the calling tests, saying why, where there is no Docker engine or one of the images was not built. */
    static void assumeImages(DockerImageName... images) {
        assumeTrue(DockerClientFactory.instance().isDockerAvailable(),
                "no Docker engine: the chaos tests need one (.ci/start-docker.sh starts it)");
        for (DockerImageName image : images) {
            assumeTrue(docker().listImagesCmd().withImageNameFilter(image.asCanonicalNameString()).exec().size() > 0,
                    "image " + image + " is missing: run src-it/docker/build-images.sh");
        }
    }

    private ChaosCluster(String name, Map<String, String> masterEnv, List<String> masterNames) {
        this.masterEnv = masterEnv;
        this.masterNames = List.copyOf(masterNames);
        try {
            Path dir = Path.of(System.getProperty("taskgrid.log.dir"), "chaos", name);
            deleteTree(dir); // markers and database of an earlier run would be counted as this one's
            this.workDir = Files.createDirectories(dir);
            Files.createDirectories(markers());
            for (String master : masterNames) {
                Files.createDirectories(outputOf(master));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Masters named {@code names} on one PostgreSQL container, which is started here; start each master with
     * {@link #startMaster(String)}. They share one home folder (tokens, secret keys, the first start's credentials).
     */
    static ChaosCluster onPostgres(String name, Map<String, String> masterEnv, List<String> names) {
        ChaosCluster cluster = new ChaosCluster(name, masterEnv, names);
        try {
            Files.createDirectories(cluster.workDir.resolve("home"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        ServerLayout.copyOfBuildServer(cluster.wlp, POSTGRES_SERVER, Map.of("taskgrid.db", "postgresql"), Map.of());
        cluster.databaseNetwork = Network.newNetwork();
        cluster.postgres = new GenericContainer<>(POSTGRES_IMAGE)
                .withNetwork(cluster.databaseNetwork)
                .withNetworkAliases("postgres")
                .withExposedPorts(5432)
                .waitingFor(Wait.forListeningPort().withStartupTimeout(Duration.ofMinutes(1)));
        cluster.postgres.start();
        return cluster;
    }

    private boolean onPostgres() {
        return postgres != null;
    }

    private Path outputOf(String master) {
        return workDir.resolve(masterNames.size() == 1 ? "master-output" : "master-output-" + master);
    }

    Path markers() {
        return workDir.resolve("markers");
    }

    /** How many times the task that writes {@code name} ran to its end. */
    int runs(String name) {
        Path file = markers().resolve(name);
        try {
            return Files.exists(file) ? Files.readAllLines(file).size() : 0;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The hosts (agent ids) that ran the named task, one per run. */
    List<String> ranOn(String name) {
        Path file = markers().resolve(name);
        try {
            return Files.exists(file) ? Files.readAllLines(file) : List.of();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A command that runs for {@code seconds} and then leaves one line in the markers folder. */
    static String markedCommand(String name, double seconds) {
        return (seconds > 0 ? "sleep " + seconds + "; " : "") + "echo \"$(hostname)\" >> /markers/" + name;
    }

    void startMaster() {
        startMaster(masterNames.get(0));
    }

    /** Starts the named master and waits until it is ready (a standby is ready too). */
    void startMaster(String name) {
        GenericContainer<?> master = new MasterContainer(databaseNetwork)
                .withNetwork(network)
                .withNetworkAliases(name)
                .withFileSystemBind(wlp.toString(), "/opt/wlp", BindMode.READ_ONLY)
                .withFileSystemBind(outputOf(name).toString(), "/var/taskgrid/output", BindMode.READ_WRITE)
                .withEnv("WLP_OUTPUT_DIR", "/var/taskgrid/output")
                // Without it the server script does not see a Java 9+ runtime and leaves out the --add-opens it needs.
                .withEnv("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")
                .withEnv("TASKGRID_LISTEN_HOST", "*")
                // A private Docker network of the test's own: plaintext is the documented opt-in there.
                .withEnv("TASKGRID_TLS_INSECURE_ALLOWED", "true")
                .withEnv(masterEnv)
                .withExposedPorts(HTTP)
                .withCommand("/opt/wlp/bin/server", "run", onPostgres() ? POSTGRES_SERVER : H2_SERVER)
                .waitingFor(Wait.forHttp("/health/ready").forPort(HTTP).withStartupTimeout(Duration.ofMinutes(3)));
        if (onPostgres()) {
            master.withEnv("TASKGRID_MASTER_ID", name)
                    .withEnv("TASKGRID_HOME", "/var/taskgrid/home")
                    .withFileSystemBind(workDir.resolve("home").toString(), "/var/taskgrid/home", BindMode.READ_WRITE)
                    .withEnv("TASKGRID_DB_HOST", "postgres")
                    .withEnv("TASKGRID_DB_PORT", "5432")
                    .withEnv("TASKGRID_DB_NAME", "taskgrid")
                    .withEnv("TASKGRID_DB_USER", "taskgrid")
                    .withEnv("TASKGRID_DB_PASSWORD", "trusted-on-this-network");
        }
        master.start();
        masters.put(name, master);
        readInitialCredentials(onPostgres() ? workDir.resolve("home") : outputOf(name).resolve(H2_SERVER));
    }

    /**
     * A master's container that joins the database's network as a second one, before the server starts (it needs the
     * database to start). A cut from the database leaves it on the agents' network, where the agents and
     * {@link #api(String)} reach it.
     */
    private static final class MasterContainer extends GenericContainer<MasterContainer> {
        private final Network databaseNetwork;

        MasterContainer(Network databaseNetwork) {
            super(IMAGE);
            this.databaseNetwork = databaseNetwork;
        }

        @Override
        protected void containerIsCreated(String containerId) {
            if (databaseNetwork != null) {
                docker().connectToNetworkCmd().withNetworkId(databaseNetwork.getId()).withContainerId(containerId)
                        .exec();
            }
        }
    }

    private volatile String apiToken;
    private volatile String joinToken;

    /** The tokens the master made at its first start (a later master finds the same file). */
    private void readInitialCredentials(Path dir) {
        InitialCredentials credentials = InitialCredentials.read(dir);
        apiToken = credentials.operatorToken();
        joinToken = credentials.joinToken();
    }

    void killMaster() {
        killMaster(masterNames.get(0));
    }

    /** SIGKILL to the named master's container: no clean shutdown, no chance to tell anyone. */
    void killMaster(String name) {
        GenericContainer<?> master = masters.remove(name);
        docker().killContainerCmd(master.getContainerId()).withSignal("KILL").exec();
        int generation = masterGenerations.merge(name, 1, Integer::sum);
        saveLog(name + "-" + generation, master);
        master.stop();
    }

    /** Drops the named master from the database's network: its packets to PostgreSQL go nowhere, nothing is closed. */
    void cutFromDatabase(String name) {
        docker().disconnectFromNetworkCmd().withNetworkId(databaseNetwork.getId())
                .withContainerId(masters.get(name).getContainerId()).exec();
    }

    void reconnectToDatabase(String name) {
        docker().connectToNetworkCmd().withNetworkId(databaseNetwork.getId())
                .withContainerId(masters.get(name).getContainerId()).exec();
    }

    void startAgent(String id) {
        startAgent(id, masterNames.get(0));
    }

    /** An agent given every master's address, {@code first} first: the one it connects to while it answers. */
    void startAgent(String id, String first) {
        List<String> order = new ArrayList<>(masterNames);
        java.util.Collections.rotate(order, -order.indexOf(first));
        GenericContainer<?> agent = new GenericContainer<>(IMAGE)
                .withNetwork(network)
                .withCreateContainerCmdModifier(cmd -> cmd.withHostName(id))
                .withFileSystemBind(agentJar.toString(), "/opt/taskgrid/worker-agent.jar", BindMode.READ_ONLY)
                .withFileSystemBind(markers().toString(), "/markers", BindMode.READ_WRITE)
                .withEnv("TASKGRID_JOIN_TOKEN", joinToken)
                .withCommand("java", "-Xmx96m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-jar", "/opt/taskgrid/worker-agent.jar",
                        "--prefetch", "1",
                        "--id", id, "--master", order.stream().map(m -> m + ":50051")
                                .collect(Collectors.joining(",")), "--plaintext", "--reconnect-delay", "500ms",
                        "--max-reconnect-delay", "2s", "--state-dir", "/var/taskgrid/agent");
        agent.start();
        agents.put(id, agent);
    }

    GenericContainer<?> agent(String id) {
        return agents.get(id);
    }

    void killAgent(String id) {
        docker().killContainerCmd(agents.get(id).getContainerId()).withSignal("KILL").exec();
    }

    void pauseAgent(String id) {
        docker().pauseContainerCmd(agents.get(id).getContainerId()).exec();
    }

    void unpauseAgent(String id) {
        docker().unpauseContainerCmd(agents.get(id).getContainerId()).exec();
    }

    void disconnectAgent(String id) {
        docker().disconnectFromNetworkCmd().withNetworkId(network.getId())
                .withContainerId(agents.get(id).getContainerId()).exec();
    }

    void reconnectAgent(String id) {
        docker().connectToNetworkCmd().withNetworkId(network.getId())
                .withContainerId(agents.get(id).getContainerId()).exec();
    }

    TaskgridClient api() {
        return api(masterNames.get(0));
    }

    /**
     * Submits once with an Idempotency-Key: the task's id once a master took it (202, or 200 for a replay of one
     * stored before), empty while it does not answer (killed, not started again yet), so that a caller retrying with
     * the same key never stores one task twice.
     */
    static Optional<String> submitOnce(Supplier<TaskgridClient> master, String key, String body) {
        try {
            TaskgridClient api = master.get();
            TaskgridClient.Reply reply = api.send(HttpRequest.newBuilder(URI.create(api.base() + "/tasks"))
                    .timeout(Duration.ofSeconds(10))
                    .header("Content-Type", "application/json").header("Idempotency-Key", key)
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build());
            if (reply.status() == 202 || reply.status() == 200) {
                return Optional.of(reply.json().getString("id"));
            }
        } catch (RuntimeException e) {
            // not answering: try again
        }
        return Optional.empty();
    }

    /** A client of the named master (its REST port as mapped on this host). */
    TaskgridClient api(String name) {
        GenericContainer<?> master = masters.get(name);
        if (onPostgres()) {
            // Its address on the agents' network, not the mapped port: Docker maps ports through whichever of a
            // container's networks it picks as the gateway, which may be the database's, and then a cut from the
            // database would cut this client off too.
            return new TaskgridClient("http://" + addressOnAgentsNetwork(master) + ":" + HTTP, apiToken);
        }
        return new TaskgridClient("http://" + master.getHost() + ":" + master.getMappedPort(HTTP), apiToken);
    }

    private final Map<String, String> addresses = new ConcurrentHashMap<>();

    private String addressOnAgentsNetwork(GenericContainer<?> master) {
        return addresses.computeIfAbsent(master.getContainerId(), id -> docker().inspectContainerCmd(id).exec()
                .getNetworkSettings().getNetworks().values().stream()
                .filter(n -> network.getId().equals(n.getNetworkID())).findFirst()
                .orElseThrow(() -> new IllegalStateException("master " + id + " is not on the agents' network"))
                .getIpAddress());
    }

    void awaitWorkers(int n, Duration timeout) {
        poll(timeout, Duration.ofMillis(200))
                .untilAsserted(() -> assertThat(connectedWorkers()).as("connected workers").isEqualTo(n));
    }

    /** -1 while the master does not answer, as during its restart. */
    private int connectedWorkers() {
        try {
            return api().workers().size();
        } catch (RuntimeException e) {
            return -1;
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (Files.exists(dir)) {
            try (Stream<Path> paths = Files.walk(dir)) {
                for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(path);
                }
            }
        }
    }

    private static DockerClient docker() {
        return DockerClientFactory.instance().client();
    }

    @Override
    public void close() {
        masters.forEach((name, master) -> saveLog(name, master));
        agents.forEach((id, agent) -> saveLog(id, agent));
        saveLog("postgres", postgres);
        agents.values().forEach(GenericContainer::stop);
        masters.values().forEach(GenericContainer::stop);
        if (postgres != null) {
            postgres.stop();
            databaseNetwork.close();
        }
        network.close();
    }

    private void saveLog(String name, GenericContainer<?> container) {
        if (container == null || container.getContainerId() == null) {
            return;
        }
        try {
            Files.writeString(workDir.resolve(name + ".log"), container.getLogs());
        } catch (RuntimeException | IOException e) {
            System.err.println("could not save the log of " + name + ": " + e.getMessage());
        }
    }

}
