package io.taskgrid.agent;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A JVM of its own on this test run's class path, for what only another process can show: a lock the kernel holds
 * per process, an exit code. Its environment is the test's minus the join token, which each test gives explicitly.
 */
final class ChildJvm {

    private ChildJvm() {
    }

    static ProcessBuilder running(Class<?> main, String... args) {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-Xmx64m", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"),
                main.getName()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().remove("TASKGRID_JOIN_TOKEN");
        return builder;
    }
}
