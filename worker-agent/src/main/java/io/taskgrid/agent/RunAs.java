package io.taskgrid.agent;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The unprivileged user that commands run as ({@code --run-as}), the isolation that Nomad's {@code user} option and CI
 * runners recommend. A command that runs as another user than the agent cannot read the agent's token file, its state
 * directory (results of other tasks) or {@code /proc/<agent>/environ}, and cannot signal or trace the agent. The agent
 * switches user with util-linux {@code setpriv} after {@code setsid}, so the command still leads its own process group
 * and the agent (root) can still stop the whole tree.
 */
record RunAs(String user, long uid, long gid, Path home, boolean ownPidNamespace) {

    static final Path SETPRIV = Path.of("/usr/bin/setpriv");
    static final Path UNSHARE = Path.of("/usr/bin/unshare");
    /**
     * A command in a PID namespace of its own, with its own /proc: when its first process ends, the kernel kills
     * everything else in it, also what left the process group with setsid and was re-parented; and it sees no other
     * process of the machine (not the agent's, not other tasks'). {@code --kill-child}: should that first process's
     * parent die, so does the namespace.
     */
    static final List<String> OWN_PID_NAMESPACE = List.of(UNSHARE.toString(), "--pid", "--fork", "--kill-child",
            "--mount-proc");

    /** Thrown when --run-as cannot work on this machine; the message says why. */
    static final class Unusable extends Exception {
        Unusable(String message) {
            super(message);
        }
    }

    /**
     * Looks the user up (through NSS, so LDAP users work too) and checks that the switch can work: the agent must run
     * as root, the user must not be root, and setpriv must be installed.
     */
    static RunAs resolve(String user, boolean agentIsRoot) throws Unusable {
        if (!user.matches("[A-Za-z0-9._][A-Za-z0-9._-]{0,31}")) {
            throw new Unusable("--run-as '" + user + "' is not a user name");
        }
        if (!agentIsRoot) {
            throw new Unusable("--run-as needs the agent to run as root: only root may switch to another user");
        }
        if (!Files.isExecutable(SETPRIV)) {
            throw new Unusable("--run-as needs " + SETPRIV + " (util-linux), which is not installed");
        }
        String entry = getent(user);
        String[] fields = entry == null ? new String[0] : entry.split(":", -1);
        if (fields.length < 7) {
            throw new Unusable("--run-as: no user '" + user + "' on this machine");
        }
        long uid = Long.parseLong(fields[2]);
        long gid = Long.parseLong(fields[3]);
        if (uid == 0) {
            throw new Unusable("--run-as '" + user + "' is root; give an unprivileged user");
        }
        return new RunAs(fields[0], uid, gid, Path.of(fields[5]), pidNamespacesWork());
    }

    /**
     * The prefix that runs what follows as this user, with that user's supplementary groups, in a PID namespace of its
     * own where this machine allows one.
     */
    List<String> commandPrefix() {
        List<String> prefix = new ArrayList<>();
        if (ownPidNamespace) {
            prefix.addAll(OWN_PID_NAMESPACE);
        }
        prefix.addAll(List.of(SETPRIV.toString(), "--reuid=" + uid, "--regid=" + gid, "--init-groups", "--"));
        return prefix;
    }

    /**
     * Whether a PID namespace can be made here: root on a machine or VM can, root in a container usually cannot
     * (no CAP_SYS_ADMIN); there commands run without one, and the agent says so at start.
     */
    static boolean pidNamespacesWork() {
        if (!Files.isExecutable(UNSHARE)) {
            return false;
        }
        List<String> probe = new ArrayList<>(OWN_PID_NAMESPACE);
        probe.add("/bin/true");
        return ProcessTree.succeeds(probe, 10);
    }

    /** Where a command starts when its task names no directory: the user's home, else the root directory. */
    Path defaultDirectory() {
        return Files.isDirectory(home) ? home : Path.of("/");
    }

    private static String getent(String user) throws Unusable {
        try {
            Process process = new ProcessBuilder("getent", "passwd", user).redirectErrorStream(true).start();
            String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new Unusable("--run-as: looking up '" + user + "' took too long");
            }
            return process.exitValue() == 0 ? out.lines().findFirst().orElse(null) : null;
        } catch (IOException e) {
            throw new Unusable("--run-as: cannot look up '" + user + "' (getent: " + e.getMessage() + ")");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Unusable("--run-as: interrupted while looking up '" + user + "'");
        }
    }
}
