package io.taskgrid.agent;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * JVMs of their own as an unprivileged user, for what root cannot show: the kernel holds only other users to
 * RLIMIT_NPROC, and the build runs as root. The user is made for this test run ({@code useradd}) and removed at its
 * end, after every process it still has was killed; so is a copy of the class path that user can read (root's home,
 * where Maven keeps the jars, is not).
 */
final class UnprivilegedJvm {

    /** The user, its name, and the class path copy; null until first asked for. */
    private static User user;
    private static String classPath;

    record User(String name, long uid, long gid) {
    }

    private UnprivilegedJvm() {
    }

    /** The throwaway user of this test run, made on first use; skips the test where that cannot be done. */
    static synchronized User user() throws Exception {
        assumeTrue(CommandRunTest.isRoot(), "a process limit binds only an unprivileged user, and only root can "
                + "switch to one: this test runs as root only");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/setpriv")) && Files.isExecutable(Path.of("/usr/bin/prlimit")),
                "needs util-linux setpriv and prlimit");
        if (user == null) {
            String name = "taskgrid-t" + ProcessHandle.current().pid();
            if (run("getent", "passwd", name) != 0) {
                int made = -1;
                for (int attempt = 0; attempt < 5 && made != 0; attempt++) {
                    // useradd fails while another one holds /etc/passwd's lock: try again.
                    made = run("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell",
                            "/usr/sbin/nologin", "--user-group", name);
                    if (made != 0) {
                        Thread.sleep(500);
                    }
                }
                assumeTrue(made == 0, "could not make a throwaway user with useradd");
            }
            String[] entry = output("getent", "passwd", name).trim().split(":");
            User made = new User(name, Long.parseLong(entry[2]), Long.parseLong(entry[3]));
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                killAll(made);
                try {
                    run("userdel", made.name());
                } catch (Exception e) {
                    // left behind: a system user without a home
                }
            }, "remove-" + name));
            user = made;
        }
        return user;
    }

    /** This run's class path, copied where any user can read it. */
    static synchronized String classPath() throws IOException {
        if (classPath == null) {
            Path copy = Files.createTempDirectory("taskgrid-test-cp");
            Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rwxr-xr-x"));
            Runtime.getRuntime().addShutdownHook(new Thread(() -> delete(copy), "remove-class-path-copy"));
            List<String> entries = new ArrayList<>();
            int n = 0;
            for (String entry : System.getProperty("java.class.path").split(":")) {
                Path source = Path.of(entry);
                if (!Files.exists(source)) {
                    continue;
                }
                Path target = copy.resolve(n++ + "-" + source.getFileName());
                copyReadable(source, target);
                entries.add(target.toString());
            }
            classPath = String.join(":", entries);
        }
        return classPath;
    }

    /** The command line of a JVM running {@code main} on the readable class path. */
    static List<String> java(Class<?> main, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-Xmx64m", "-XX:+UseSerialGC", "-XX:-UsePerfData", "-cp", classPath(), main.getName()));
        command.addAll(List.of(args));
        return command;
    }

    /** What runs what follows as {@code user}, without root's groups. */
    static List<String> as(User user) {
        return List.of("/usr/bin/setpriv", "--reuid=" + user.uid(), "--regid=" + user.gid(), "--clear-groups", "--");
    }

    /** The pids of every process whose real user is {@code user}, zombies included. */
    static List<Long> processesOf(User user) {
        List<Long> pids = new ArrayList<>();
        try (DirectoryStream<Path> processes = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
            for (Path process : processes) {
                try {
                    for (String line : Files.readAllLines(process.resolve("status"))) {
                        if (line.startsWith("Uid:") && line.split("\\s+")[1].equals(Long.toString(user.uid()))) {
                            pids.add(Long.parseLong(process.getFileName().toString()));
                        }
                    }
                } catch (IOException | RuntimeException gone) {
                    // exited while we looked
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return pids;
    }

    /**
     * How many threads (each counts against RLIMIT_NPROC) the processes of {@code user} have, zombies counting one:
     * what the user's process limit is held against.
     */
    static int tasksOf(User user) {
        int tasks = 0;
        for (long pid : processesOf(user)) {
            try (Stream<Path> threads = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
                tasks += (int) threads.count();
            } catch (IOException gone) {
                // exited while we looked
            }
        }
        return tasks;
    }

    /**
     * KILLs every process of {@code user}, again until none is left (a fork bomb forks between two looks): the net
     * under every test that runs one, so that nothing of it outlives the test, whatever the code under test did.
     */
    static void killAll(User user) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        int quiet = 0;
        while (quiet < 3 && System.nanoTime() < deadline) {
            List<Long> pids = processesOf(user).stream().filter(Procfs::isRunning).toList();
            pids.forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
            quiet = pids.isEmpty() ? quiet + 1 : 0;
            try {
                Thread.sleep(pids.isEmpty() ? 50 : 5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    static int run(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            return -1;
        }
        return process.exitValue();
    }

    private static String output(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(process.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        process.waitFor(30, TimeUnit.SECONDS);
        return out;
    }

    private static void copyReadable(Path source, Path target) throws IOException {
        if (!Files.isDirectory(source)) {
            Files.copy(source, target, StandardCopyOption.REPLACE_EXISTING);
            Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-r--r--"));
            return;
        }
        Files.walkFileTree(source, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                Path copy = target.resolve(source.relativize(dir).toString());
                Files.createDirectories(copy);
                Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rwxr-xr-x"));
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Path copy = target.resolve(source.relativize(file).toString());
                Files.copy(file, copy, StandardCopyOption.REPLACE_EXISTING);
                Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rw-r--r--"));
                return FileVisitResult.CONTINUE;
            }
        });
    }

    private static void delete(Path tree) {
        try (Stream<Path> paths = Files.walk(tree)) {
            paths.sorted(Comparator.reverseOrder()).forEach(path -> {
                try {
                    Files.delete(path);
                } catch (IOException e) {
                    // left in /tmp
                }
            });
        } catch (IOException e) {
            // left in /tmp
        }
    }
}
