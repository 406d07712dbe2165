package io.taskgrid.agent;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * The environment a task's command starts with: the agent's own, minus everything that configures or authenticates the
 * agent. A command is written by whoever submitted the task, and its output is readable by every viewer of the API:
 * had it inherited {@code TASKGRID_JOIN_TOKEN}, {@code env} alone would have handed anyone the key to register an agent
 * and receive other users' tasks. The agent's JVM settings go too: they were chosen for the agent, not the task (a
 * task that wants them sets them in its own {@code env}).
 *
 * <p>An agent with {@code --allow} runs only the commands its operator chose, and an environment can run code too:
 * {@code BASH_ENV}, {@code ENV}, {@code LD_PRELOAD}, {@code GIT_SSH_COMMAND}, {@code PERL5OPT}, {@code NODE_OPTIONS},
 * {@code PYTHONSTARTUP}, {@code PATH} itself ... make an allowed command run something else. There the
 * {@link Policy} holds: a task may set only the variables the operator allows ({@code --allow-env}), and of the
 * agent's own environment the command gets only {@link #BASE} and those same names. Without {@code --allow} the task
 * chooses its command anyway, and its environment too.
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

    /**
     * What an agent with {@code --allow} passes on of its own environment besides the names its operator allows: what
     * commands need to find programs and speak the right language, none of which names code to run (plus every
     * {@code LC_*}).
     */
    static final Set<String> BASE = Set.of("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR",
            "TERM");

    /**
     * Variables known to make common programs run code they name, or load it: the shells', the dynamic loader's, and
     * those of git, ssh, perl, python, ruby, node and the JVM. Not a defence (no list of them is complete; the
     * {@link Policy} is one): the agent warns at start when {@code --allow-env} names one.
     */
    private static final Pattern RUNS_CODE = Pattern.compile("BASH_ENV|ENV|SHELLOPTS|BASHOPTS|PS4|PROMPT_COMMAND|IFS"
            + "|PATH|CDPATH|LD_.*|GCONV_PATH|LOCPATH|MALLOC_.*|GIT_.*|SSH_ASKPASS|SUDO_ASKPASS|EDITOR|VISUAL|PAGER"
            + "|PERL5OPT|PERL5LIB|PERLLIB|PYTHONSTARTUP|PYTHONPATH|PYTHONHOME|RUBYOPT|RUBYLIB|NODE_OPTIONS|NODE_PATH"
            + "|JAVA_TOOL_OPTIONS|JDK_JAVA_OPTIONS|_JAVA_OPTIONS|CLASSPATH");

    /** Whether {@code name} is one of the variables known to run code (see {@link #RUNS_CODE}). */
    static boolean runsCode(String name) {
        return RUNS_CODE.matcher(name).matches();
    }

    /** Removes the agent's own configuration and credentials from {@code env}, in place. */
    static void scrub(Map<String, String> env) {
        env.keySet().removeIf(name -> name.startsWith(AGENT_PREFIX) || AGENT_JVM_VARIABLES.contains(name));
    }

    /**
     * Which variables reach a command: all (no {@code --allow}: {@link #ANY}), or only those the operator allows.
     *
     * @param allowed the names a task may set, and that pass from the agent's own environment besides {@link #BASE};
     *                null for any
     */
    record Policy(Set<String> allowed) {

        static final Policy ANY = new Policy(null);

        Policy {
            allowed = allowed == null ? null : Set.copyOf(allowed);
        }

        /** Only these names from a task, only these and {@link #BASE} from the agent. */
        static Policy allowing(Collection<String> names) {
            return new Policy(Set.copyOf(names));
        }

        boolean restricted() {
            return allowed != null;
        }

        /** The names in a task's environment that this policy does not let through, sorted; empty when all pass. */
        Set<String> refused(Map<String, String> taskEnv) {
            Set<String> refused = new TreeSet<>();
            if (allowed != null) {
                taskEnv.keySet().stream().filter(name -> !allowed.contains(name)).forEach(refused::add);
            }
            return refused;
        }

        /**
         * The agent's own environment as a command may start with, in place: scrubbed ({@link #scrub}), and when
         * restricted, cut to {@link #BASE}, {@code LC_*} and the allowed names.
         */
        void prepare(Map<String, String> env) {
            scrub(env);
            if (allowed != null) {
                env.keySet().removeIf(name -> !BASE.contains(name) && !name.startsWith("LC_") && !allowed.contains(name));
            }
        }

        /** The reason a task that sets variables this policy refuses ends with. */
        static String refusal(Set<String> refused) {
            return "this agent runs its allowed commands (--allow) only with the environment variables its operator "
                    + "allows (--allow-env); this task sets " + (refused.size() == 1 ? "one that is not: " :
                    refused.size() + " that are not: ") + String.join(", ", refused);
        }
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
                script.append("export ").append(name).append("=").append(quoted(value)).append("\n");
            }
        });
        return script.toString();
    }

    /** {@code value} as one word of a POSIX shell, exactly: in single quotes, each single quote closed and escaped. */
    static String quoted(String value) {
        return "'" + value.replace("'", "'\\''") + "'";
    }
}
