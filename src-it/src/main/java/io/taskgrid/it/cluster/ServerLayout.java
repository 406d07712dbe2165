package io.taskgrid.it.cluster;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Another Liberty server in the build's installation, laid out like the build's own {@code taskgrid} server (its
 * configuration files, master.war, the JDBC drivers) with settings of its own: bootstrap properties (such as
 * {@code taskgrid.db}, which picks the database) and server.env lines. What an operator does by hand, done afresh.
 */
public final class ServerLayout {

    private ServerLayout() {
    }

    /** Lays out server {@code name} (an earlier one of that name is removed); returns its directory. */
    public static Path copyOfBuildServer(Path wlp, String name, Map<String, String> bootstrap, Map<String, String> env) {
        Path build = wlp.resolve("usr/servers/taskgrid");
        Path dir = wlp.resolve("usr/servers").resolve(name);
        try {
            deleteTree(dir);
            Files.createDirectories(dir.resolve("apps"));
            Files.createDirectories(dir.resolve("jdbc"));
            try (Stream<Path> files = Files.list(build)) {
                for (Path file : files.filter(f -> f.getFileName().toString().endsWith(".xml")
                        || f.getFileName().toString().equals("jvm.options")).toList()) {
                    Files.copy(file, dir.resolve(file.getFileName()), StandardCopyOption.REPLACE_EXISTING);
                }
            }
            Files.copy(build.resolve("apps/master.war"), dir.resolve("apps/master.war"));
            for (String jar : List.of("h2.jar", "postgresql.jar")) {
                Files.copy(build.resolve("jdbc/" + jar), dir.resolve("jdbc/" + jar));
            }
            String properties = Files.readString(build.resolve("bootstrap.properties")) + "\n" + bootstrap.entrySet()
                    .stream().map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining("\n")) + "\n";
            Files.writeString(dir.resolve("bootstrap.properties"), properties);
            // As `server create` does: the password of the key store Liberty makes when HTTPS needs one.
            Map<String, String> serverEnv = new LinkedHashMap<>();
            serverEnv.put("keystore_password", UUID.randomUUID().toString().replace("-", ""));
            serverEnv.putAll(env);
            Files.writeString(dir.resolve("server.env"), serverEnv.entrySet().stream()
                    .map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining("\n")) + "\n");
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot lay out server " + name + ": " + e.getMessage(), e);
        }
    }

    static void deleteTree(Path dir) throws IOException {
        if (Files.exists(dir)) {
            try (Stream<Path> paths = Files.walk(dir)) {
                for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(path);
                }
            }
        }
    }
}
