package io.taskgrid.agent;

import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The environment a task's command starts with: the agent's own, minus everything that configures or authenticates the
 * agent. A command is written by whoever submitted the task, and its output is readable by every viewer of the API:
 * had it inherited {@code TASKGRID_JOIN_TOKEN}, {@code env} alone would have handed anyone the key to register an agent
 * and receive other users' tasks. The agent's JVM settings go too: they were chosen for the agent, not the task (a
 * task that wants them sets them in its own {@code env}).
 */
final class TaskEnvironment {

    /** Prefix of every variable the agent reads for itself (TASKGRID_JOIN_TOKEN, ...). */
    static final String AGENT_PREFIX = "TASKGRID_";
    static final List<String> AGENT_JVM_VARIABLES = List.of("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS");

    private TaskEnvironment() {
    }

    /**
     * The whole environment of the programs that switch to the {@code --run-as} user. They run as root, so nothing a
     * task chose may reach them: the dynamic loader alone obeys LD_PRELOAD, LD_AUDIT, LD_LIBRARY_PATH, LD_DEBUG_OUTPUT,
     * GCONV_PATH ... and would run a task's code, or write a task's file, as root.
     */
    static final Map<String, String> BEFORE_SWITCH = Map.of("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");

    /** Names a POSIX shell can export; other names (an exported bash function's, say) are not passed on. */
    private static final Pattern EXPORTABLE = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    /** Removes the agent's own configuration and credentials from {@code env}, in place. */
    static void scrub(Map<String, String> env) {
        env.keySet().removeIf(name -> name.startsWith(AGENT_PREFIX) || AGENT_JVM_VARIABLES.contains(name));
    }

    /**
     * {@code env} as shell {@code export} statements, which the command's shell evaluates once it runs as the
     * {@code --run-as} user (see {@link ProcessTree#commandLine}). It is handed over on the shell's stdin, not its
     * command line, which every user of the machine can read and where {@code secretEnv} values must not appear.
     */
    static String exportScript(Map<String, String> env) {
        StringBuilder script = new StringBuilder();
        env.forEach((name, value) -> {
            if (EXPORTABLE.matcher(name).matches() && value.indexOf('\0') < 0) {
                script.append("export ").append(name).append("='").append(value.replace("'", "'\\''")).append("'\n");
            }
        });
        return script.toString();
    }
}
