package io.taskgrid.it.cluster;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A PostgreSQL server of the tests' own: the machine's installed binaries (Debian's {@code postgresql} package), a
 * fresh data directory, a port of its own, stopped again on {@link #close()}. PostgreSQL refuses to run as root, so as
 * root it runs as the {@code postgres} user the package creates. Database and owner are both {@code taskgrid}.
 */
public final class PostgresServer implements AutoCloseable {

    public static final String DATABASE = "taskgrid";
    public static final String USER = "taskgrid";

    private final Path bin;
    private final Path dataDir;
    private final int port;
    private final boolean asPostgres;

    private PostgresServer(Path bin, Path dataDir, int port, boolean asPostgres) {
        this.bin = bin;
        this.dataDir = dataDir;
        this.port = port;
        this.asPostgres = asPostgres;
    }

    /** The newest installed PostgreSQL's bin directory, if any. */
    public static Optional<Path> installation() {
        Path root = Path.of("/usr/lib/postgresql");
        if (!Files.isDirectory(root)) {
            return Optional.empty();
        }
        try (Stream<Path> versions = Files.list(root)) {
            return versions.map(v -> v.resolve("bin")).filter(b -> Files.isExecutable(b.resolve("initdb")))
                    .max(Comparator.comparingInt(b -> Integer.parseInt(b.getParent().getFileName().toString()
                            .replaceAll("[^0-9]", "0"))));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** Makes a fresh cluster in {@code dataDir} (its old contents are removed), starts it on {@code port}. */
    public static PostgresServer start(Path dataDir, int port) {
        Path bin = installation().orElseThrow(() -> new IllegalStateException(
                "PostgreSQL is not installed (apt-get install postgresql); .ci/run installs it"));
        boolean root = "root".equals(System.getProperty("user.name"));
        PostgresServer server = new PostgresServer(bin, dataDir.toAbsolutePath(), port, root);
        server.init();
        return server;
    }

    public int port() {
        return port;
    }

    public String jdbcUrl() {
        return "jdbc:postgresql://127.0.0.1:" + port + "/" + DATABASE;
    }

    private void init() {
        try {
            deleteTree(dataDir);
            Files.createDirectories(dataDir);
            if (asPostgres) {
                run(List.of("chown", "-R", "postgres:postgres", dataDir.toString()), false);
                // Every folder above must let the postgres user through.
                for (Path p = dataDir.getParent(); p != null; p = p.getParent()) {
                    p.toFile().setExecutable(true, false);
                }
            }
            run(List.of(bin.resolve("initdb").toString(), "-D", dataDir.resolve("data").toString(), "-U", USER,
                    "-A", "trust", "-E", "UTF8", "--no-instructions"), true);
            startServer();
            run(List.of(bin.resolve("createdb").toString(), "-h", "127.0.0.1", "-p", Integer.toString(port), "-U", USER,
                    DATABASE), true);
        } catch (IOException e) {
            throw new UncheckedIOException("could not start PostgreSQL in " + dataDir + ": " + e.getMessage(), e);
        }
    }

    private void startServer() throws IOException {
        run(List.of(bin.resolve("pg_ctl").toString(), "-D", dataDir.resolve("data").toString(), "-w", "-t", "60",
                "-l", dataDir.resolve("postgres.log").toString(), "-o",
                "-p " + port + " -k " + dataDir + " -c listen_addresses=127.0.0.1 -c max_connections=100",
                "start"), true);
    }

    /** Stops the server for a while, keeping its data: an outage of the database, for tests. */
    public void stopForNow() {
        try {
            run(List.of(bin.resolve("pg_ctl").toString(), "-D", dataDir.resolve("data").toString(), "-w", "-m", "fast",
                    "stop"), true);
        } catch (IOException e) {
            throw new UncheckedIOException("could not stop PostgreSQL in " + dataDir, e);
        }
    }

    /** Starts it again on the same data and port after {@link #stopForNow()}. */
    public void startAgain() {
        try {
            startServer();
        } catch (IOException e) {
            throw new UncheckedIOException("could not start PostgreSQL in " + dataDir, e);
        }
    }

    /** Stops the server (fast shutdown: open transactions are rolled back). */
    @Override
    public void close() {
        try {
            run(List.of(bin.resolve("pg_ctl").toString(), "-D", dataDir.resolve("data").toString(), "-w", "-m", "fast",
                    "stop"), true);
        } catch (IOException | RuntimeException e) {
            System.err.println("could not stop PostgreSQL in " + dataDir + ": " + e.getMessage());
        }
    }

    private void run(List<String> command, boolean asOwner) throws IOException {
        List<String> line = new ArrayList<>();
        if (asOwner && asPostgres) {
            line.addAll(List.of("runuser", "-u", "postgres", "--"));
        }
        line.addAll(command);
        Process process = new ProcessBuilder(line).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!process.waitFor(120, TimeUnit.SECONDS) || process.exitValue() != 0) {
                throw new IllegalStateException(String.join(" ", line) + " failed:\n" + output);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
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
}
