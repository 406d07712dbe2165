package io.taskgrid.agent;

import org.junit.jupiter.api.Test;

import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.entry;

/**
 * The rules themselves, on maps: the test JVM cannot set the agent's JVM variables for itself without them applying to
 * it, so only a direct test shows that they go.
 */
class TaskEnvironmentTest {

    @Test
    void scrubRemovesTheAgentsOwnVariablesAndJvmSettingsAndKeepsTheRest() {
        Map<String, String> env = new HashMap<>(Map.of(
                "TASKGRID_JOIN_TOKEN", "tgj_secret",
                "TASKGRID_ANYTHING", "x",
                "JAVA_TOOL_OPTIONS", "-Xmx64m",
                "JDK_JAVA_OPTIONS", "-Xss1m",
                "_JAVA_OPTIONS", "-Dagent=1",
                "PATH", "/usr/bin:/bin",
                "HOME", "/root",
                "MY_TASKGRID_X", "kept",
                "taskgrid_lower", "kept",
                "JAVA_HOME", "/usr/lib/jvm/java-17"));
        TaskEnvironment.scrub(env);
        assertThat(env).containsOnly(
                entry("PATH", "/usr/bin:/bin"),
                entry("HOME", "/root"),
                entry("MY_TASKGRID_X", "kept"),
                entry("taskgrid_lower", "kept"),
                entry("JAVA_HOME", "/usr/lib/jvm/java-17"));
    }

    @Test
    void aRestrictedPolicyPassesOnlyTheBaseAndTheAllowedNamesOfTheAgentsEnvironment() {
        Map<String, String> env = new HashMap<>(Map.of(
                "PATH", "/usr/bin:/bin",
                "HOME", "/home/agent",
                "LC_ALL", "C.UTF-8",
                "CI", "true",
                "BASH_ENV", "/etc/agent-profile",
                "LD_PRELOAD", "/opt/agent/lib.so",
                "NODE_OPTIONS", "--require /opt/x.js",
                "TASKGRID_JOIN_TOKEN", "tgj_secret"));
        TaskEnvironment.Policy.allowing(java.util.List.of("CI")).prepare(env);
        assertThat(env).containsOnlyKeys("PATH", "HOME", "LC_ALL", "CI");

        Map<String, String> unrestricted = new HashMap<>(Map.of("BASH_ENV", "/x", "TASKGRID_JOIN_TOKEN", "tgj"));
        TaskEnvironment.Policy.ANY.prepare(unrestricted);
        assertThat(unrestricted).containsOnlyKeys("BASH_ENV");
    }

    @Test
    void theVariablesKnownToRunCodeAreRecognisedForTheWarning() {
        assertThat(java.util.List.of("BASH_ENV", "ENV", "LD_PRELOAD", "GIT_SSH_COMMAND", "PERL5OPT", "NODE_OPTIONS",
                "PYTHONSTARTUP", "PATH")).allMatch(TaskEnvironment::runsCode);
        assertThat(java.util.List.of("CI", "BUILD_ID", "LANG", "GREETING")).noneMatch(TaskEnvironment::runsCode);
    }

    @Test
    void exportScriptHandsEveryValueToTheShellExactly() throws Exception {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("SINGLE", "it's 'quoted'");
        env.put("DOUBLE", "say \"hi\"");
        env.put("DOLLAR", "$HOME ${PATH} $(id -u) $");
        env.put("BACKTICK", "`id -u`");
        env.put("BACKSLASH", "a\\b\\\\c\\");
        env.put("NEWLINES", "first\nsecond\n\n");
        env.put("EMPTY", "");
        env.put("ALL", "'\"$`\\\n'");
        String expected = String.join("|", env.values()) + "|";

        String out = shell(TaskEnvironment.exportScript(env),
                "printf '%s|' \"$SINGLE\" \"$DOUBLE\" \"$DOLLAR\" \"$BACKTICK\" \"$BACKSLASH\" \"$NEWLINES\" \"$EMPTY\" \"$ALL\"");
        assertThat(out).isEqualTo(expected);
    }

    @Test
    void exportScriptLeavesOutNamesAShellCannotExport() throws Exception {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("BASH_FUNC_f%%", "() { echo injected; }");
        env.put("1ST", "digit first");
        env.put("A-B", "dash");
        env.put("A B", "space");
        env.put("X;echo injected;Y", "semicolon");
        env.put("", "empty name");
        env.put("GOOD_1", "kept");
        String script = TaskEnvironment.exportScript(env);
        assertThat(script).isEqualTo("export GOOD_1='kept'\n");
        assertThat(shell(script, "printf '%s' \"$GOOD_1\"")).isEqualTo("kept");
    }

    /**
     * Runs {@code command} after {@code script}, with the first shell of a --run-as command ({@link
     * ProcessTree#ENVIRONMENT_THEN_COMMAND}), which reads the script from its stdin, in an otherwise empty environment.
     */
    private static String shell(String script, String command) throws Exception {
        ProcessBuilder builder = new ProcessBuilder("/bin/sh", "-c", ProcessTree.ENVIRONMENT_THEN_COMMAND,
                "taskgrid-task", command).redirectError(ProcessBuilder.Redirect.INHERIT);
        builder.environment().clear();
        Process process = builder.start();
        try (OutputStream stdin = process.getOutputStream()) {
            stdin.write(script.getBytes(StandardCharsets.UTF_8));
        }
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).as(out).isZero();
        return out;
    }
}
