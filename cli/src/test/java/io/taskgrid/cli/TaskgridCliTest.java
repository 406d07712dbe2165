package io.taskgrid.cli;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The command line against {@link FakeMaster}: what it sends, what it prints, what it exits with. */
class TaskgridCliTest {

    private static final String ID = "01a2b3c4-0000-7000-8000-000000000001";

    @TempDir
    Path home;

    private FakeMaster master;
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();
    private final ByteArrayOutputStream taskOut = new ByteArrayOutputStream();
    private final ByteArrayOutputStream taskErr = new ByteArrayOutputStream();
    private final Map<String, String> env = new HashMap<>();

    @BeforeEach
    void start() throws Exception {
        master = new FakeMaster();
        env.put("HOME", home.toString());
        env.put("TASKGRID_URL", master.url());
        env.put("TASKGRID_TOKEN", "tg_test-token");
    }

    @AfterEach
    void stop() {
        master.close();
    }

    private int run(String... args) {
        CommandLine line = Taskgrid.commandLine();
        line.setOut(new PrintWriter(out, true));
        line.setErr(new PrintWriter(err, true));
        line.setExecutionStrategy(parsed -> {
            for (CommandLine sub : parsed.asCommandLineList()) {
                Object command = sub.getCommand();
                if (command instanceof ApiCommand api) {
                    api.endpoint.environment = env;
                }
                if (command instanceof RunCommand run) {
                    run.stdout = new PrintStream(taskOut, true, StandardCharsets.UTF_8);
                    run.stderr = new PrintStream(taskErr, true, StandardCharsets.UTF_8);
                }
                if (command instanceof LogsCommand logs) {
                    logs.to = new PrintStream(taskOut, true, StandardCharsets.UTF_8);
                }
            }
            return new CommandLine.RunLast().execute(parsed);
        });
        return line.execute(args);
    }

    private static String sse(String... events) {
        return String.join("", events);
    }

    @Test
    void runSendsTheTaskFollowsItsStreamsToTheirOwnAndExitsWithItsCode() {
        master.json("POST", "/tasks", 202, "{\"id\":\"" + ID + "\",\"state\":\"QUEUED\"}")
                .answer("GET", "/tasks/" + ID + "/output?follow=true&stream=both", 200, "text/event-stream", sse(
                        "id: 3,0\nevent: output\ndata: {\"stream\":\"stdout\",\"offset\":0,\"text\":\"hi\\n\"}\n\n",
                        ": heartbeat\n\n",
                        "id: 3,5\nevent: output\ndata: {\"stream\":\"stderr\",\"offset\":0,\"text\":\"oops\\n\"}\n\n",
                        "event: end\ndata: {\"state\":\"FAILED\",\"exitCode\":3}\n\n"));

        int status = run("run", "--env", "A=1", "--timeout", "1h30m", "--require", "gpu=yes", "--priority", "5",
                "--", "echo hi;", "exit 3");

        assertThat(status).isEqualTo(3);
        assertThat(taskOut.toString(StandardCharsets.UTF_8)).isEqualTo("hi\n");
        assertThat(taskErr.toString(StandardCharsets.UTF_8)).isEqualTo("oops\n");
        FakeMaster.Seen submitted = master.seen.get(0);
        assertThat(submitted.body()).isEqualTo("{\"cmd\":\"echo hi; exit 3\",\"env\":{\"A\":\"1\"},"
                + "\"timeoutSeconds\":5400,\"priority\":5,\"requires\":{\"gpu\":\"yes\"}}");
        assertThat(submitted.headers().get("Authorization")).containsExactly("Bearer tg_test-token");
    }

    @Test
    void aTaskThatEndedWithoutAnExitCodeExitsWithItsOwnStatusAndSaysWhy() {
        master.json("POST", "/tasks", 202, "{\"id\":\"" + ID + "\"}")
                .answer("GET", "/tasks/" + ID + "/output?follow=true&stream=both", 200, "text/event-stream",
                        "event: end\ndata: {\"state\":\"TIMED_OUT\",\"exitCode\":null}\n\n")
                .json("GET", "/tasks/" + ID, 200, "{\"id\":\"" + ID + "\",\"state\":\"TIMED_OUT\",\"reason\":"
                        + "\"ran past its timeout of 1 s\\u001b[2J\"}");

        assertThat(run("run", "--", "sleep", "9")).isEqualTo(ExitCodes.TIMED_OUT);
        assertThat(err.toString()).isEqualTo("taskgrid: task " + ID + " timed out: ran past its timeout of 1 s?[2J"
                + System.lineSeparator());
    }

    @Test
    void theApisReasonIsPrintedAndTheKindOfRefusalIsTheExitStatus() {
        master.json("POST", "/tasks", 400, "{\"title\":\"Bad Request\",\"detail\":\"'retries' must be 0 to 10\"}");
        assertThat(run("submit", "--retries", "99", "--", "true")).isEqualTo(ExitCodes.REFUSED);
        assertThat(err.toString()).contains("taskgrid: 'retries' must be 0 to 10");

        master.json("GET", "/workers?limit=1000", 401, "{\"title\":\"Unauthorized\",\"detail\":\"the token is not valid\"}");
        assertThat(run("workers")).isEqualTo(ExitCodes.NOT_ALLOWED);

        master.json("GET", "/workers?limit=1000", 503, "{\"title\":\"Service Unavailable\",\"detail\":\"busy\"}");
        assertThat(run("workers")).isEqualTo(ExitCodes.BUSY);
    }

    @Test
    void anUnreachableMasterIsSaidAsSuchWithItsAddress() {
        env.put("TASKGRID_URL", "http://127.0.0.1:1");
        assertThat(run("ls")).isEqualTo(ExitCodes.UNREACHABLE);
        assertThat(err.toString()).contains("cannot reach the master at http://127.0.0.1:1");
    }

    @Test
    void badInputIsAUsageErrorBeforeAnythingIsSent() {
        assertThat(run("run", "--env", "NOEQUALS", "--", "true")).isEqualTo(ExitCodes.USAGE);
        assertThat(err.toString()).contains("--env NOEQUALS: expected NAME=VALUE");
        assertThat(run("run", "--timeout", "10 minutes", "--", "true")).isEqualTo(ExitCodes.USAGE);
        assertThat(run("run")).isEqualTo(ExitCodes.USAGE);
        assertThat(run("ls", "--limit", "5000")).isEqualTo(ExitCodes.USAGE);
        assertThat(run("frobnicate")).isEqualTo(ExitCodes.USAGE);
        assertThat(master.seen).isEmpty();
    }

    @Test
    void aSecretComesFromTheCallersEnvironmentAndNeverFromTheCommandLineWithoutAWarning() {
        master.json("POST", "/tasks", 202, "{\"id\":\"" + ID + "\"}");
        env.put("DB_PASSWORD", "s3cret");
        assertThat(run("submit", "--secret-env", "DB_PASSWORD", "--", "./migrate")).isZero();
        assertThat(master.seen.get(0).body()).contains("\"secretEnv\":{\"DB_PASSWORD\":\"s3cret\"}");
        assertThat(out.toString().trim()).isEqualTo(ID);

        assertThat(run("submit", "--secret-env", "MISSING", "--", "true")).isEqualTo(ExitCodes.USAGE);
        assertThat(err.toString()).contains("--secret-env MISSING: no such variable");
    }

    @Test
    void aTokenFileOthersMayReadIsRefused() throws Exception {
        Path token = Files.writeString(home.resolve("token"), "tg_from-file\n");
        Files.setPosixFilePermissions(token, PosixFilePermissions.fromString("rw-r--r--"));
        assertThat(run("ls", "--token-file", token.toString())).isEqualTo(ExitCodes.USAGE);
        assertThat(err.toString()).contains("chmod 600");

        Files.setPosixFilePermissions(token, PosixFilePermissions.fromString("rw-------"));
        master.json("GET", "/tasks?limit=20", 200, "{\"tasks\":[],\"next\":null}");
        assertThat(run("ls", "--token-file", token.toString())).isZero();
        assertThat(master.seen.get(0).headers().get("Authorization")).containsExactly("Bearer tg_from-file");
    }

    @Test
    void theConfigFileGivesTheMasterAndTheTokenWhenNothingElseDoes() throws Exception {
        env.remove("TASKGRID_URL");
        env.remove("TASKGRID_TOKEN");
        Path config = Files.createDirectories(home.resolve(".config/taskgrid")).resolve("config");
        Files.writeString(config, "url=" + master.url() + "\ntoken=tg_from-config\n");
        Files.setPosixFilePermissions(config, PosixFilePermissions.fromString("rw-------"));
        master.json("GET", "/workers?limit=1000", 200, "{\"count\":1,\"workers\":[{\"id\":\"w1\",\"master\":\"a\",\"labels\":"
                + "{\"gpu\":\"yes\"},\"slots\":2,\"running\":1,\"draining\":false}],\"next\":null}");

        assertThat(run("workers")).isZero();
        assertThat(master.seen.get(0).headers().get("Authorization")).containsExactly("Bearer tg_from-config");
        assertThat(out.toString()).contains("w1").contains("1/2").contains("gpu=yes");
    }

    @Test
    void aListShowsNoControlCharactersATaskPrinted() {
        master.json("GET", "/tasks?limit=20", 200, "{\"tasks\":[{\"id\":\"" + ID + "\",\"state\":\"SUCCEEDED\","
                + "\"exitCode\":0,\"cmd\":\"printf '\\u001b]0;owned\\u0007'\"}],\"next\":null}");
        assertThat(run("ls")).isZero();
        assertThat(out.toString()).contains(ID).contains("SUCCEEDED").doesNotContain("\u001b").doesNotContain("\u0007");
    }

    @Test
    void waitExitsWithTheFirstFailureAndLogsPrintsTheStoredOutput() {
        master.json("GET", "/tasks/" + ID, 200, "{\"id\":\"" + ID + "\",\"state\":\"CANCELLED\"}")
                .answer("GET", "/tasks/" + ID + "/output?stream=stdout", 200, "text/plain", "line 1\nline 2\n");
        assertThat(run("wait", ID)).isEqualTo(ExitCodes.CANCELLED);
        assertThat(run("logs", ID)).isZero();
        assertThat(taskOut.toString(StandardCharsets.UTF_8)).isEqualTo("line 1\nline 2\n");
    }

    @Test
    void durationsAreReadAsPeopleWriteThem() {
        assertThat(Durations.seconds("90")).isEqualTo(90);
        assertThat(Durations.seconds("10m")).isEqualTo(600);
        assertThat(Durations.seconds("1h30m")).isEqualTo(5400);
        assertThat(Durations.seconds("2d")).isEqualTo(172800);
        assertThatThrownBy(() -> Durations.seconds("0")).hasMessageContaining("from 1 second");
        assertThatThrownBy(() -> Durations.seconds("999999999d")).hasMessageContaining("366 days");
        assertThatThrownBy(() -> Durations.seconds("m10")).hasMessageContaining("not a duration");
    }

    @Test
    void everyCommandHasHelpWithAnExample() {
        for (String command : new String[]{"run", "submit", "get", "logs", "ls", "cancel", "wait", "workers", "drain"}) {
            StringWriter before = new StringWriter();
            before.write(out.toString());
            assertThat(run(command, "--help")).as(command).isZero();
            assertThat(out.toString().substring(before.toString().length())).as(command).contains("Example");
        }
        assertThat(master.seen).isEmpty();
    }

    @Test
    void aTokenThatIsNotOneLineIsRefusedWithoutBeingShown() throws Exception {
        Path token = Files.writeString(home.resolve("token"), "# operator\ntg_secret-value\n");
        Files.setPosixFilePermissions(token, PosixFilePermissions.fromString("rw-------"));
        assertThat(run("ls", "--token-file", token.toString())).isEqualTo(ExitCodes.USAGE);
        assertThat(err.toString()).contains("not one line").doesNotContain("tg_secret-value");
        assertThat(master.seen).isEmpty();
    }

    @Test
    void aFailedTaskWhoseExitCodeIsZeroIsStillAFailure() {
        master.json("GET", "/tasks/" + ID, 200, "{\"id\":\"" + ID + "\",\"state\":\"FAILED\",\"exitCode\":0,"
                + "\"reason\":\"its result could not be stored\"}");
        assertThat(run("wait", ID)).isEqualTo(ExitCodes.FAILED_TO_START);
        assertThat(err.toString()).contains("its result could not be stored");
    }
}
