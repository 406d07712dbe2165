package io.taskgrid.it;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An agent JVM a test starts itself, as a user would: {@code java -jar worker-agent.jar --id ... --master ...}. For
 * agents that differ from the cluster's own in flags, token or master, so each test states only what it differs in.
 * Nothing is added behind the test's back: without {@link #joinToken} the agent inherits the test JVM's environment
 * unchanged, and without a log its stdout and stderr stay separate pipes for the test to read.
 */
final class AgentProcess {

    private static final String JOIN_TOKEN_VARIABLE = "TASKGRID_JOIN_TOKEN";

    private String id;
    private String master;
    private Path home;
    private final List<String> args = new ArrayList<>();
    /** A null value takes the variable out of the inherited environment. */
    private final Map<String, String> environment = new LinkedHashMap<>();
    private ProcessBuilder.Redirect log;

    private AgentProcess() {
    }

    static AgentProcess agent() {
        return new AgentProcess();
    }

    /** {@code --id}; left out when not set, so the agent makes up its own. */
    AgentProcess id(String workerId) {
        this.id = workerId;
        return this;
    }

    /** {@code --master host:port}; left out when not set, so the agent looks for a master on this machine. */
    AgentProcess master(String target) {
        this.master = target;
        return this;
    }

    /**
     * The agent JVM's home directory ({@code user.home}), under which lies its default state directory; left out when
     * not set, so the agent uses the test user's own home (shared with every other agent of that user on the machine).
     */
    AgentProcess home(Path dir) {
        this.home = dir;
        return this;
    }

    /** Further arguments, after {@code --id} and {@code --master}, in this order. */
    AgentProcess args(String... more) {
        return args(List.of(more));
    }

    AgentProcess args(List<String> more) {
        args.addAll(more);
        return this;
    }

    AgentProcess env(String name, String value) {
        environment.put(name, value);
        return this;
    }

    /**
     * The join token in the agent's environment, the way an operator sets it; null sees to it that the agent has none,
     * even one the test JVM happens to hold.
     */
    AgentProcess joinToken(String token) {
        environment.put(JOIN_TOKEN_VARIABLE, token);
        return this;
    }

    /** stdout and stderr together into {@code file}, which starts empty. */
    AgentProcess log(Path file) {
        this.log = ProcessBuilder.Redirect.to(file.toFile());
        return this;
    }

    /** stdout and stderr together onto the end of {@code file}, which keeps what earlier runs wrote. */
    AgentProcess appendLog(Path file) {
        this.log = ProcessBuilder.Redirect.appendTo(file.toFile());
        return this;
    }

    List<String> command() {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new ArrayList<>(List.of(java));
        if (home != null) {
            command.add("-Duser.home=" + home);
        }
        command.addAll(List.of("-jar", SharedCluster.property("taskgrid.agent.jar")));
        if (id != null) {
            command.addAll(List.of("--id", id));
        }
        if (master != null) {
            command.addAll(List.of("--master", master));
        }
        command.addAll(args);
        return command;
    }

    Process start() throws IOException {
        ProcessBuilder builder = new ProcessBuilder(command());
        environment.forEach((name, value) -> {
            if (value == null) {
                builder.environment().remove(name);
            } else {
                builder.environment().put(name, value);
            }
        });
        if (log != null) {
            builder.redirectErrorStream(true).redirectOutput(log);
        }
        return builder.start();
    }
}
