package io.taskgrid.it;

import io.taskgrid.it.cluster.InitialCredentials;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * master.war on another Jakarta EE server, started by a docs block as an operator runs it (PayaraDeploymentIT,
 * WildFlyDeploymentIT): the script, a real agent with the join token of the master's first start, and a stop that
 * leaves nothing of either behind.
 */
final class DocumentedServer {

    private DocumentedServer() {
    }

    /**
     * Runs {@code script} (bash, with {@code HOME} at {@code home}, in {@code directory} when not null) until the master
     * in it has made its credentials in {@code state} and answers on {@code httpPort}; the server's process.
     */
    static Process start(String name, String script, Path directory, Path home, Path state, int httpPort)
            throws Exception {
        Path log = Path.of(SharedCluster.property("taskgrid.log.dir"), name + ".log");
        ProcessBuilder builder = new ProcessBuilder("bash", "-ec", script).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        if (directory != null) {
            builder.directory(directory.toFile());
        }
        builder.environment().put("HOME", home.toString());
        Process server = builder.start();
        Path credentials = state.resolve(InitialCredentials.FILE);
        poll(Duration.ofMinutes(4), Duration.ofSeconds(1))
                .until(() -> !server.isAlive() || (Files.exists(credentials) && workers(state, httpPort) >= 0));
        assertThat(server.isAlive()).as(name + " runs (see " + log + ")").isTrue();
        return server;
    }

    /** A real agent of that master, with the join token its first start made. */
    static Process agent(String name, int grpcPort, Path home, Path state) throws Exception {
        return AgentProcess.agent().id(name + "-1").master("localhost:" + grpcPort)
                .args("--reconnect-delay", "1s", "--state-dir", home.resolve("agent").toString())
                .joinToken(InitialCredentials.read(state).joinToken())
                .log(Path.of(SharedCluster.property("taskgrid.log.dir"), name + "-agent.log"))
                .start();
    }

    private static int workers(Path state, int httpPort) {
        try {
            return new TaskgridClient("http://localhost:" + httpPort, InitialCredentials.read(state).operatorToken())
                    .workers().size();
        } catch (RuntimeException | AssertionError e) {
            return -1;
        }
    }

    /**
     * Stops each process and every process under it, and waits until all are gone: a server script runs the server's
     * JVM as its child, and the next test binds ports it holds and deletes the folders it writes.
     */
    static void stop(Process... processes) throws Exception {
        for (Process process : processes) {
            if (process == null) {
                continue;
            }
            List<ProcessHandle> all = new ArrayList<>(process.descendants().toList());
            all.add(process.toHandle());
            all.forEach(ProcessHandle::destroy);
            for (ProcessHandle handle : all) {
                try {
                    handle.onExit().get(60, TimeUnit.SECONDS);
                } catch (TimeoutException e) {
                    handle.destroyForcibly();
                    handle.onExit().get(30, TimeUnit.SECONDS);
                }
            }
        }
    }
}
