package io.taskgrid.agent;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * A command's whole process tree, and how to stop it.
 *
 * <p>Each command runs under {@code setsid}, so it leads a session and process group of its own: everything it starts
 * stays in that group unless it deliberately leaves, even after its parent exits and it is re-parented to init, where
 * {@link ProcessHandle#descendants()} no longer finds it. Stopping therefore signals every process of the group and
 * of the session (one that left its group with job control, {@code set -m}, stays in the session), and also each
 * descendant still attached, which catches processes that left the group but not the tree. Each signal goes straight
 * from this JVM ({@link ProcessHandle#destroy}) to a process found in /proc: stopping a command forks nothing, so it
 * works when the command has used up every process its user may have.
 */
final class ProcessTree {

    private static final Path SETSID = Path.of("/usr/bin/setsid");
    /** Looked at once: a stat(2) per command, twice, was a measurable part of what a short command costs the agent. */
    private static final boolean HAS_SETSID = Files.isExecutable(SETSID);
    /** How long {@link #stop} goes on sending KILL to processes that keep appearing. */
    static final Duration KILL_PATIENCE = Duration.ofSeconds(10);

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

    /**
     * How the first shell of a --run-as command takes the task's environment, from its stdin. The script ends with
     * {@code set -- "$1" DIRECTORY MARK} (see {@link CommandRun}), which gives the next step its arguments.
     */
    private static final String READ_ENVIRONMENT = "eval \"$(cat)\" || exit 126; ";

    /**
     * Enters the working directory, already as the task's user, so that a directory that user may not enter is not
     * entered (root, who starts the command, may enter any). $2 is the directory; when it cannot be entered, the shell
     * prints $3, a random word only the agent knows, alone on stderr and exits 126, which tells the agent that the
     * command never ran; without $3 (the task named no directory: $2 is the user's home) it starts in / instead.
     */
    private static final String ENTER_DIRECTORY = "if ! cd -P -- \"$2\" 2>/dev/null; then if [ -n \"$3\" ]; then "
            + "printf '%s\\n' \"$3\" >&2; exit " + ProcessTree.NO_DIRECTORY_EXIT + "; fi; cd /; fi; ";

    /** The status of a --run-as command's first shell that could not enter the working directory. */
    static final int NO_DIRECTORY_EXIT = 126;

    /** The unprivileged first shell of a --run-as command: $1 is the command. */
    static final String ENVIRONMENT_THEN_COMMAND = READ_ENVIRONMENT + ENTER_DIRECTORY
            + "exec /bin/sh -c \"$1\" </dev/null";

    /**
     * The same as the first process of a PID namespace, which must stay until the command ends (everything else in
     * the namespace dies with it) and which gets only the signals it has a handler for: it passes TERM on to the
     * command and exits with the command's status.
     */
    static final String ENVIRONMENT_THEN_COMMAND_AS_INIT = READ_ENVIRONMENT + ENTER_DIRECTORY
            + "/bin/sh -c \"$1\" </dev/null & c=$!; "
            + "trap 'kill -TERM $c 2>/dev/null' TERM; while :; do wait $c; s=$?; kill -0 $c 2>/dev/null || exit $s; done";

    /** {@code command}, run in a new session (and process group) of its own when setsid is available. */
    static List<String> inNewSession(List<String> command) {
        List<String> line = new ArrayList<>();
        if (HAS_SETSID) {
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
        return new ProcessTree(root, HAS_SETSID ? root.pid() : -1);
    }

    /**
     * TERM to the whole tree, then, for whatever is still alive after {@code grace}, KILL until nothing of it is left
     * (see {@link #killAll}). Forks nothing: every signal goes from this JVM to a process it found in /proc, so a
     * command that exhausted its user's processes (a fork bomb) is stopped all the same.
     *
     * @return how many of the command's processes still ran when the KILL rounds gave up: 0 unless something forked
     *         faster than it was killed for {@link #KILL_PATIENCE}
     */
    int stop(Duration grace) {
        List<ProcessHandle> attached = new ArrayList<>(root.descendants().toList());
        // Each process once: a shell whose TERM trap prints would print twice. Through the handle: Process.destroy()
        // would also close our ends of its pipes, losing what it prints as it winds down.
        Set<Long> termed = new HashSet<>();
        for (ProcessHandle process : concat(List.of(root.toHandle()), attached, members())) {
            if (termed.add(process.pid())) {
                process.destroy();
            }
        }
        signalGroupWithoutProcfs("TERM");
        long deadline = System.nanoTime() + grace.toNanos();
        while (System.nanoTime() < deadline && (root.isAlive() || anyRunning(attached) || groupAlive())) {
            sleep(50);
        }
        if (root.isAlive() || anyRunning(attached) || groupAlive()) {
            return killAll(attached);
        }
        return 0;
    }

    /**
     * After the shell itself exited: stops what it left running in the background, so that no process outlives its
     * task and the output pipes those processes hold get closed.
     *
     * @return as {@link #stop}
     */
    int stopLeftovers(Duration grace) {
        if (!groupAlive()) {
            return 0;
        }
        members().forEach(ProcessHandle::destroy);
        signalGroupWithoutProcfs("TERM");
        long deadline = System.nanoTime() + grace.toNanos();
        while (System.nanoTime() < deadline && groupAlive()) {
            sleep(50);
        }
        return groupAlive() ? killAll(List.of()) : 0;
    }

    /**
     * KILL to every process of the tree, again and again until two looks in a row find none: a process that was
     * forking when its parent got the KILL leaves a child the next look finds (a fork bomb does that all the time,
     * and each look kills everything it sees, so it runs out within a few rounds). Bounded by {@link #KILL_PATIENCE}.
     *
     * @return how many processes of the tree still ran when it gave up
     */
    private int killAll(List<ProcessHandle> attached) {
        long deadline = System.nanoTime() + KILL_PATIENCE.toNanos();
        int quiet = 0;
        while (true) {
            int hit = 0;
            if (root.isAlive()) {
                root.toHandle().destroyForcibly();
                hit++;
            }
            for (ProcessHandle process : concat(root.descendants().toList(), attached)) {
                if (running(process)) {
                    process.destroyForcibly();
                    hit++;
                }
            }
            if (Procfs.available()) {
                List<ProcessHandle> members = members();
                members.forEach(ProcessHandle::destroyForcibly);
                hit += members.size();
            } else if (signalGroupWithoutProcfs("KILL")) {
                hit++;
            }
            quiet = hit == 0 ? quiet + 1 : 0;
            if (quiet >= 2) {
                return 0;
            }
            if (System.nanoTime() - deadline > 0) {
                int left = (int) attached.stream().filter(ProcessTree::running).count()
                        + (Procfs.available() ? Procfs.membersOf(groupId).size() : groupAlive() ? 1 : 0);
                return root.isAlive() ? left + 1 : left;
            }
            sleep(hit == 0 ? 20 : 2);
        }
    }

    /**
     * KILL to every process of session (or group) {@code id}, found in /proc, until two looks in a row find none, as
     * {@link #killAll} does for a tree whose shell has long gone ({@link LeftoverSweeper}). Forks nothing.
     *
     * @return how many of its processes still ran when it gave up after {@link #KILL_PATIENCE}
     */
    static int killSession(long id) {
        long deadline = System.nanoTime() + KILL_PATIENCE.toNanos();
        int quiet = 0;
        while (true) {
            List<ProcessHandle> members = Procfs.membersOf(id);
            members.forEach(ProcessHandle::destroyForcibly);
            quiet = members.isEmpty() ? quiet + 1 : 0;
            if (quiet >= 2) {
                return 0;
            }
            if (System.nanoTime() - deadline > 0) {
                return Procfs.membersOf(id).size();
            }
            sleep(members.isEmpty() ? 20 : 2);
        }
    }

    /**
     * Every running process of the command's group and session, found in /proc. Without /proc, none: the group is
     * then signalled through kill(1) instead (see {@link #signal}).
     */
    private List<ProcessHandle> members() {
        return groupId < 0 ? List.of() : Procfs.membersOf(groupId);
    }

    /** Where there is no /proc to find the members in: the whole group through kill(1), which forks. */
    private boolean signalGroupWithoutProcfs(String signal) {
        return !Procfs.available() && groupId >= 0 && signal(signal);
    }

    @SafeVarargs
    private static List<ProcessHandle> concat(List<ProcessHandle>... lists) {
        List<ProcessHandle> all = new ArrayList<>();
        for (List<ProcessHandle> list : lists) {
            all.addAll(list);
        }
        return all;
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

    /**
     * kill(1) through the shell builtin, which takes a negative pid for a group; true when some process got it. Only
     * where there is no /proc: it forks, which a command that exhausted its user's processes makes impossible.
     */
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
        return handles.stream().anyMatch(ProcessTree::running);
    }

    /** Alive and not a zombie. */
    private static boolean running(ProcessHandle handle) {
        return handle.isAlive() && (!Procfs.available() || Procfs.isRunning(handle.pid()));
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
