package io.taskgrid.it.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Who a local cluster's tasks run as. A task is code from whoever may submit one, and a local cluster keeps the
 * master's state (the operator token, the tokens file the master re-reads every second, the secret key, the database
 * and logs) on the same machine: a task running as the master's user could read the operator token, or add an
 * operator line to the tokens file, and be operator. So when the launcher runs as root, its agents run every task as a
 * user of its own ({@value #DEDICATED}, made with {@code useradd} the first time), which can read none of it. Without
 * root nobody can switch users: tasks then run as the launcher's own user, and the launcher says so loudly, at start
 * and in its summary.
 */
public final class TaskUser {

    /** A user of their own where the launcher can make one (root), else the launcher's user, with a warning. */
    public static final String AUTO = "auto";
    /** The launcher's own user: for tests that start agents of their own, never for a cluster people submit to. */
    public static final String SAME = "same";
    /** The user the quick start makes for tasks when it runs as root. */
    public static final String DEDICATED = "taskgrid-task";
    static final Path DEDICATED_HOME = Path.of("/var/lib/taskgrid-task");

    private final String runAs;
    private final String warning;

    private TaskUser(String runAs, String warning) {
        this.runAs = runAs;
        this.warning = warning;
    }

    /** The user the agents switch to for each task ({@code --run-as}); empty when tasks run as the launcher's user. */
    public Optional<String> runAs() {
        return Optional.ofNullable(runAs);
    }

    /** What the launcher must say loudly about where tasks run; empty when tasks cannot reach the master's files. */
    public Optional<String> warning() {
        return Optional.ofNullable(warning);
    }

    /**
     * Decides, and makes the dedicated user when it is needed and missing. {@code say} hears what was done to the
     * machine (a user made), so nothing happens to it silently.
     */
    static TaskUser resolve(String setting, Consumer<String> say) {
        return resolve(setting, isRootUser(), say, TaskUser::userExists, TaskUser::makeDedicatedUser);
    }

    static TaskUser resolve(String setting, boolean root, Consumer<String> say, UserLookup lookup, UserMaker maker) {
        if (SAME.equals(setting)) {
            return new TaskUser(null, null);
        }
        if (!AUTO.equals(setting)) {
            if (!root) {
                throw new MasterStartFailure("tasks can run as '" + setting + "' only when the launcher runs as root "
                        + "(only root may switch to another user)");
            }
            if (!lookup.exists(setting)) {
                throw new MasterStartFailure("no user '" + setting + "' on this machine to run tasks as");
            }
            return new TaskUser(setting, null);
        }
        if (!root) {
            return new TaskUser(null, sameUserWarning(System.getProperty("user.name")));
        }
        if (lookup.exists(DEDICATED)) {
            return new TaskUser(DEDICATED, null);
        }
        Optional<String> failure = maker.make();
        if (failure.isPresent()) {
            return new TaskUser(null, "TASKS RUN AS ROOT: the launcher could not make the user " + DEDICATED
                    + " for them (" + failure.get() + "), so every task can read and change everything on this "
                    + "machine, the master's operator token and keys included. Make an unprivileged user and start "
                    + "again with -Dtaskgrid.task.user=<user>.");
        }
        say.accept("made the user " + DEDICATED + " (home " + DEDICATED_HOME + ") to run tasks as: a task must not "
                + "reach the master's files; remove it with 'userdel -r " + DEDICATED + "'");
        return new TaskUser(DEDICATED, null);
    }

    static String sameUserWarning(String user) {
        return "TASKS RUN AS YOUR OWN USER (" + user + "): only root can give tasks a user of their own. Every task "
                + "can read this cluster's operator token, tokens file, secret key and database, and the agents' join "
                + "token, and can change them: a submitter becomes operator in two commands. Submit only what you would "
                + "run yourself, hand no token to anyone, or start the quick start as root (tasks then run as "
                + DEDICATED + "). See docs/security.md.";
    }

    /** Looks a user up through NSS. */
    interface UserLookup {
        boolean exists(String user);
    }

    /** Makes the dedicated user; the reason when it could not. */
    interface UserMaker {
        Optional<String> make();
    }

    /** Whether this JVM runs as root (uid 0). */
    public static boolean isRootUser() {
        try {
            return ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue() == 0;
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return false;
        }
    }

    static boolean userExists(String user) {
        return run(List.of("getent", "passwd", user)).isEmpty();
    }

    private static Optional<String> makeDedicatedUser() {
        return run(List.of("useradd", "--system", "--user-group", "--create-home", "--home-dir",
                DEDICATED_HOME.toString(), "--shell", "/usr/sbin/nologin", "--comment", "Taskgrid tasks (local cluster)",
                DEDICATED));
    }

    /** Runs a command; empty when it exited 0, else what went wrong. */
    private static Optional<String> run(List<String> command) {
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                return Optional.of(command.get(0) + " took too long");
            }
            return process.exitValue() == 0 ? Optional.empty()
                    : Optional.of(command.get(0) + " exited " + process.exitValue() + (out.isEmpty() ? "" : ": " + out));
        } catch (IOException e) {
            return Optional.of("cannot run " + command.get(0) + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.of("interrupted");
        }
    }
}
