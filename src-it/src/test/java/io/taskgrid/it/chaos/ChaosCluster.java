package io.taskgrid.it.chaos;

import com.github.dockerjava.api.DockerClient;
import io.taskgrid.it.TaskgridClient;
import io.taskgrid.it.cluster.InitialCredentials;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.BindMode;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.Network;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.utility.DockerImageName;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * A master and N agents, each in its own container on one Docker network, from the locally built runtime image. The
 * master's Liberty and the agent jar come from the build, mounted read-only; the master's database lives in a host
 * folder, so a new master container after a kill finds every task. Tasks write to a markers folder mounted into
 * every agent, which is how a test counts from outside what really ran.
 */
final class ChaosCluster implements AutoCloseable {

    static final DockerImageName IMAGE = DockerImageName.parse("taskgrid/runtime:17");
    private static final int HTTP = 9092;

    private final Network network = Network.newNetwork();
    private final Path wlp = Path.of(System.getProperty("taskgrid.wlp.dir"));
    private final Path agentJar = Path.of(System.getProperty("taskgrid.agent.jar"));
    private final Path workDir;
    private final Map<String, String> masterEnv;
    private volatile GenericContainer<?> master;
    private final Map<String, GenericContainer<?>> agents = new LinkedHashMap<>();
    private int masterGeneration;

    ChaosCluster(String name, Map<String, String> masterEnv) {
        try {
            Path dir = Path.of(System.getProperty("taskgrid.log.dir"), "chaos", name);
            deleteTree(dir); // markers and database of an earlier run would be counted as this one's
            this.workDir = Files.createDirectories(dir);
            Files.createDirectories(markers());
            Files.createDirectories(workDir.resolve("master-output"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        this.masterEnv = masterEnv;
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

    /** A command that runs for {@code seconds} and then leaves one line in the markers folder. */
    /** The hosts (agent ids) that ran the named task, one per run. */
    List<String> ranOn(String name) {
        Path file = markers().resolve(name);
        try {
            return Files.exists(file) ? Files.readAllLines(file) : List.of();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String markedCommand(String name, double seconds) {
        return (seconds > 0 ? "sleep " + seconds + "; " : "") + "echo \"$(hostname)\" >> /markers/" + name;
    }

    void startMaster() {
        master = new GenericContainer<>(IMAGE)
                .withNetwork(network)
                .withNetworkAliases("master")
                .withFileSystemBind(wlp.toString(), "/opt/wlp", BindMode.READ_ONLY)
                .withFileSystemBind(workDir.resolve("master-output").toString(), "/var/taskgrid/output", BindMode.READ_WRITE)
                .withEnv("WLP_OUTPUT_DIR", "/var/taskgrid/output")
                // Without it the server script does not see a Java 9+ runtime and leaves out the --add-opens it needs.
                .withEnv("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")
                .withEnv("TASKGRID_LISTEN_HOST", "*")
                // A private Docker network of the test's own: plaintext is the documented opt-in there.
                .withEnv("TASKGRID_TLS_INSECURE_ALLOWED", "true")
                .withEnv(masterEnv)
                .withExposedPorts(HTTP)
                .withCommand("/opt/wlp/bin/server", "run", "taskgrid")
                .waitingFor(Wait.forHttp("/health/ready").forPort(HTTP).withStartupTimeout(Duration.ofMinutes(3)));
        master.start();
        readInitialCredentials();
    }

    private volatile String apiToken;
    private volatile String joinToken;

    /** The tokens the master made at its first start, in its output folder (a later master finds the same file). */
    private void readInitialCredentials() {
        InitialCredentials credentials = InitialCredentials.read(workDir.resolve("master-output/taskgrid"));
        apiToken = credentials.operatorToken();
        joinToken = credentials.joinToken();
    }

    /** SIGKILL to the master container: no clean shutdown, no chance to tell anyone. */
    void killMaster() {
        docker().killContainerCmd(master.getContainerId()).withSignal("KILL").exec();
        masterGeneration++;
        saveLog("master-" + masterGeneration, master);
        master.stop();
    }

    void startAgent(String id) {
        GenericContainer<?> agent = new GenericContainer<>(IMAGE)
                .withNetwork(network)
                .withCreateContainerCmdModifier(cmd -> cmd.withHostName(id))
                .withFileSystemBind(agentJar.toString(), "/opt/taskgrid/worker-agent.jar", BindMode.READ_ONLY)
                .withFileSystemBind(markers().toString(), "/markers", BindMode.READ_WRITE)
                .withEnv("TASKGRID_JOIN_TOKEN", joinToken)
                .withCommand("java", "-Xmx96m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-jar", "/opt/taskgrid/worker-agent.jar",
                        "--prefetch", "1",
                        "--id", id, "--master", "master:50051", "--plaintext", "--reconnect-delay", "500ms",
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
        return new TaskgridClient("http://" + master.getHost() + ":" + master.getMappedPort(HTTP), apiToken);
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
        saveLog("master", master);
        agents.forEach((id, agent) -> saveLog(id, agent));
        agents.values().forEach(GenericContainer::stop);
        if (master != null) {
            master.stop();
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
