package io.taskgrid.agent;

import java.util.List;
import java.util.Map;

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

    /** Removes the agent's own configuration and credentials from {@code env}, in place. */
    static void scrub(Map<String, String> env) {
        env.keySet().removeIf(name -> name.startsWith(AGENT_PREFIX) || AGENT_JVM_VARIABLES.contains(name));
    }
}
