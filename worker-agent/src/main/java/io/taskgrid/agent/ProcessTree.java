package io.taskgrid.agent;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A command's whole process tree, and how to stop it.
 *
 * <p>Each command runs under {@code setsid}, so it leads a session and process group of its own: everything it starts
 * stays in that group unless it deliberately leaves, even after its parent exits and it is re-parented to init, where
 * {@link ProcessHandle#descendants()} no longer finds it. Stopping therefore signals the group, and also each
 * descendant still attached, which catches processes that left the group but not the tree.
 */
final class ProcessTree {

    private static final Path SETSID = Path.of("/usr/bin/setsid");

    private final Process root;
    /** The process group to signal, or -1 when the command does not lead its own group. */
    private final long groupId;

    private ProcessTree(Process root, long groupId) {
        this.root = root;
        this.groupId = groupId;
    }

    /** The command line that runs {@code cmd} with /bin/sh in a new session when setsid is available. */
    static List<String> commandLine(String cmd) {
        return commandLine(cmd, null);
    }

    /**
     * Like {@link #commandLine(String)}, as {@code runAs} when it is not null: setsid, then setpriv, then the shell,
     * each exec'ing the next in place, so the shell keeps the pid that leads the new process group. As another user,
     * setsid and setpriv run as root with {@link TaskEnvironment#BEFORE_SWITCH} only; a first shell, already
     * unprivileged, reads the task's environment from stdin ({@link TaskEnvironment#exportScript}), then execs the
     * command's shell with it and stdin from /dev/null.
     */
    static List<String> commandLine(String cmd, RunAs runAs) {
        List<String> command = new ArrayList<>();
        if (runAs != null) {
            command.addAll(runAs.commandPrefix());
            command.addAll(List.of("/bin/sh", "-c", runAs.ownPidNamespace() ? ENVIRONMENT_THEN_COMMAND_AS_INIT
                    : ENVIRONMENT_THEN_COMMAND, "taskgrid-task"));
        } else {
            command.addAll(List.of("/bin/sh", "-c"));
        }
        command.add(cmd);
        return inNewSession(command);
    }

    /** How the first shell of a --run-as command takes the task's environment, from its stdin. */
    private static final String READ_ENVIRONMENT = "eval \"$(cat)\" || exit 126; ";

    /** The unprivileged first shell of a --run-as command: $1 is the command. */
    static final String ENVIRONMENT_THEN_COMMAND = READ_ENVIRONMENT + "exec /bin/sh -c \"$1\" </dev/null";

    /**
     * The same as the first process of a PID namespace, which must stay until the command ends (everything else in
     * the namespace dies with it) and which gets only the signals it has a handler for: it passes TERM on to the
     * command and exits with the command's status.
     */
    static final String ENVIRONMENT_THEN_COMMAND_AS_INIT = READ_ENVIRONMENT + "/bin/sh -c \"$1\" </dev/null & c=$!; "
            + "trap 'kill -TERM $c 2>/dev/null' TERM; while :; do wait $c; s=$?; kill -0 $c 2>/dev/null || exit $s; done";

    /** {@code command}, run in a new session (and process group) of its own when setsid is available. */
    static List<String> inNewSession(List<String> command) {
        List<String> line = new ArrayList<>();
        if (Files.isExecutable(SETSID)) {
            line.add(SETSID.toString());
        }
        line.addAll(command);
        return line;
    }

    /** The process group that holds the command's tree, or -1 when it has none of its own. */
    long groupId() {
        return groupId;
    }

    /**
     * The tree rooted at a process started with {@link #commandLine}. setsid execs the shell in place (a child of the
     * JVM never leads a group, so setsid needs no fork), hence the shell's pid is the group id. In the instant before
     * setsid(2) has run the group does not exist yet, and a signal to it simply finds nobody.
     */
    static ProcessTree of(Process root) {
        return new ProcessTree(root, Files.isExecutable(SETSID) ? root.pid() : -1);
    }

    /**
     * TERM to the whole tree, then, for whatever is still alive after {@code grace}, KILL. Returns once nothing of the
     * tree is left alive or the KILL was sent.
     */
    void stop(Duration grace) {
        List<ProcessHandle> attached = new ArrayList<>(root.descendants().toList());
        signalGroup("TERM");
        // Through the handle: Process.destroy() would also close our ends of its pipes, losing what it prints as it
        // winds down.
        root.toHandle().destroy();
        attached.forEach(ProcessHandle::destroy);
        long deadline = System.nanoTime() + grace.toNanos();
        while (System.nanoTime() < deadline && (root.isAlive() || anyRunning(attached) || groupAlive())) {
            sleep(50);
        }
        if (root.isAlive() || anyRunning(attached) || groupAlive()) {
            signalGroup("KILL");
            root.toHandle().destroyForcibly();
            root.descendants().forEach(ProcessHandle::destroyForcibly);
            attached.forEach(ProcessHandle::destroyForcibly);
        }
    }

    /**
     * After the shell itself exited: stops what it left running in the background, so that no process outlives its
     * task and the output pipes those processes hold get closed.
     */
    void stopLeftovers(Duration grace) {
        if (groupAlive()) {
            signalGroup("TERM");
            long deadline = System.nanoTime() + grace.toNanos();
            while (System.nanoTime() < deadline && groupAlive()) {
                sleep(50);
            }
            if (groupAlive()) {
                signalGroup("KILL");
            }
        }
    }

    /**
     * True while a process of the command's group still runs. Zombies do not count: an orphan that has exited stays a
     * zombie until init reaps it, and some inits (a container's, this project's CI sandbox's) never do.
     */
    boolean groupAlive() {
        if (groupId < 0) {
            return false;
        }
        return Procfs.available() ? Procfs.anyRunningInGroup(groupId) : signal("0");
    }

    private void signalGroup(String signal) {
        if (groupId >= 0) {
            signal(signal);
        }
    }

    /** kill(1) through the shell builtin, which takes a negative pid for a group; true when some process got it. */
    private boolean signal(String signal) {
        return succeeds(List.of("/bin/sh", "-c", "kill -s " + (signal.equals("0") ? "0" : signal) + " -- -" + groupId
                + " 2>/dev/null"), 5);
    }

    /**
     * Whether a short helper command exits 0 within {@code timeoutSeconds}; its output is discarded, and one that
     * cannot start, takes too long (it is then killed) or is interrupted counts as a failure.
     */
    static boolean succeeds(List<String> command, long timeoutSeconds) {
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                return false;
            }
            return process.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static boolean anyRunning(List<ProcessHandle> handles) {
        for (ProcessHandle handle : handles) {
            if (handle.isAlive() && (!Procfs.available() || Procfs.isRunning(handle.pid()))) {
                return true;
            }
        }
        return false;
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
