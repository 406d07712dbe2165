package io.taskgrid.it;

import com.sun.net.httpserver.HttpServer;
import jakarta.json.Json;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.StringReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The {@code taskgrid} command line as a person uses it: the launcher built beside its jar, run as a process against
 * the real cluster, with the master and token from the environment. Exit codes, live output, Ctrl-C, bad input and an
 * unreachable master.
 */
@ExtendWith(SharedCluster.class)
class TaskgridCliIT {

    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path home;

    private final TaskgridClient api = SharedCluster.client();

    record Result(int exit, String stdout, String stderr) {
    }

    private ProcessBuilder command(Map<String, String> extraEnv, String... args) {
        List<String> line = new ArrayList<>();
        line.add(SharedCluster.property("taskgrid.cli.launcher"));
        line.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(line);
        Map<String, String> env = builder.environment();
        env.remove("TASKGRID_URL");
        env.remove("TASKGRID_TOKEN");
        env.put("HOME", home.toString());
        env.put("TASKGRID_URL", SharedCluster.cluster().config().apiBase());
        env.put("TASKGRID_TOKEN", SharedCluster.cluster().apiToken());
        env.putAll(extraEnv);
        return builder;
    }

    private Result taskgrid(Map<String, String> extraEnv, String... args) {
        try {
            Process process = command(extraEnv, args).start();
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(process.getErrorStream()));
            String out = read(process.getInputStream());
            assertThat(process.waitFor(90, TimeUnit.SECONDS)).as("taskgrid " + String.join(" ", args) + " ended")
                    .isTrue();
            return new Result(process.exitValue(), out, err.join());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private Result taskgrid(String... args) {
        return taskgrid(Map.of(), args);
    }

    private static String read(java.io.InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void runPrintsTheTasksOutputAndExitsWithItsCode() {
        Result hi = taskgrid("run", "--", "echo hi; echo to-stderr >&2; exit 3");
        assertThat(hi.exit()).as(hi.stderr()).isEqualTo(3);
        assertThat(hi.stdout()).isEqualTo("hi\n");
        assertThat(hi.stderr()).isEqualTo("to-stderr\n");

        Result ok = taskgrid("run", "--env", "GREETING=hello there", "--", "echo \"$GREETING\"");
        assertThat(ok.exit()).isZero();
        assertThat(ok.stdout()).isEqualTo("hello there\n");
    }

    @Test
    void runShowsEachLineAsItIsPrinted() throws Exception {
        Process process = command(Map.of(), "run", "--", "for i in 1 2 3; do echo $i; sleep 1; done").start();
        long started = System.nanoTime();
        List<long[]> arrivals = new ArrayList<>();
        List<String> lines = new ArrayList<>();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8))) {
            String line;
            while ((line = out.readLine()) != null) {
                lines.add(line);
                arrivals.add(new long[]{(System.nanoTime() - started) / 1_000_000});
            }
        }
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).isZero();
        assertThat(lines).containsExactly("1", "2", "3");
        assertThat(arrivals.get(2)[0] - arrivals.get(0)[0]).as("line 1 came while the task still ran, 2 s before 3")
                .isGreaterThan(1500);
        System.out.printf("[cli] a printed line each second, seen at %d, %d, %d ms%n", arrivals.get(0)[0],
                arrivals.get(1)[0], arrivals.get(2)[0]);
    }

    @Test
    void submitLogsGetListWaitCancelAndWorkersWorkTogether() {
        Result submitted = taskgrid("submit", "--", "echo one; sleep 1; echo two");
        assertThat(submitted.exit()).as(submitted.stderr()).isZero();
        String id = submitted.stdout().trim();
        assertThat(api.task(id).getString("cmd")).isEqualTo("echo one; sleep 1; echo two");

        Result followed = taskgrid("logs", "-f", id);
        assertThat(followed.exit()).isZero();
        assertThat(followed.stdout()).isEqualTo("one\ntwo\n");
        assertThat(taskgrid("logs", id).stdout()).isEqualTo("one\ntwo\n");

        JsonObject got = Json.createReader(new StringReader(taskgrid("get", "-o", "json", id).stdout())).readObject();
        assertThat(got.getString("state")).isEqualTo("SUCCEEDED");
        assertThat(taskgrid("get", id).stdout()).contains("state:").contains("SUCCEEDED");
        assertThat(taskgrid("ls", "--state", "succeeded", "--limit", "1000").stdout()).contains(id);
        assertThat(taskgrid("wait", id).exit()).isZero();

        String sleeping = taskgrid("run", "--detach", "--", "sleep 60").stdout().trim();
        api.awaitState(sleeping, Set.of("RUNNING"), WAIT);
        Result cancelled = taskgrid("cancel", sleeping);
        assertThat(cancelled.exit()).as(cancelled.stderr()).isZero();
        assertThat(cancelled.stdout()).contains(sleeping);
        Result waited = taskgrid("wait", sleeping);
        assertThat(waited.exit()).as("cancelled").isEqualTo(130);
        assertThat(waited.stderr()).contains("was cancelled");

        Result workers = taskgrid("workers");
        assertThat(workers.exit()).isZero();
        for (String worker : SharedCluster.cluster().configuredWorkerIds()) {
            assertThat(workers.stdout()).contains(worker);
        }
        Result waitedFor = taskgrid("submit", "--wait", "--", "exit 7");
        assertThat(waitedFor.exit()).isEqualTo(7);
    }

    @Test
    void aTaskThatTimesOutExitsWith124AndSaysSo() {
        Result timedOut = taskgrid("run", "--timeout", "1s", "--", "sleep 30");
        assertThat(timedOut.exit()).isEqualTo(124);
        assertThat(timedOut.stderr()).contains("timed out");
    }

    @Test
    void ctrlCWithoutATerminalLeavesTheTaskRunningAndPrintsItsId() throws Exception {
        Process process = command(Map.of(), "run", "--", "echo started; sleep 60").start();
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(process.getErrorStream()));
        BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        assertThat(out.readLine()).isEqualTo("started");
        new ProcessBuilder("kill", "-INT", Long.toString(process.pid())).start().waitFor(10, TimeUnit.SECONDS);
        assertThat(process.waitFor(20, TimeUnit.SECONDS)).as("Ctrl-C ends the command").isTrue();
        assertThat(process.exitValue()).as("left running").isEqualTo(131);
        String said = err.join();
        assertThat(said).contains("left task").contains("running");
        String id = said.replaceAll("(?s).*left task (\\S+) running.*", "$1");
        assertThat(api.task(id).getString("state")).as("the task runs on").isEqualTo("RUNNING");
        api.delete("/tasks/" + id);
    }

    /**
     * Ctrl-C while the master has not yet answered the submission: the command waits for the answer and then does what
     * Ctrl-C does (here, with no terminal, leaves the task running and prints its id), so no task runs unknown.
     */
    @Test
    void ctrlCWhileTheSubmissionIsOnItsWayStillTellsTheTasksId() throws Exception {
        String id = "01a2aaaa-0000-7000-8000-000000000001";
        CountDownLatch posted = new CountDownLatch(1);
        HttpServer slow = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        slow.createContext("/tasks", exchange -> {
            posted.countDown();
            TaskgridClient.sleep(3000);
            byte[] body = ("{\"id\":\"" + id + "\",\"state\":\"QUEUED\"}").getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(201, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        slow.setExecutor(Executors.newCachedThreadPool());
        slow.start();
        try {
            Process process = command(Map.of("TASKGRID_URL", "http://127.0.0.1:" + slow.getAddress().getPort()),
                    "run", "--", "true").start();
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(process.getErrorStream()));
            assertThat(posted.await(30, TimeUnit.SECONDS)).as("the submission reached the master").isTrue();
            new ProcessBuilder("kill", "-INT", Long.toString(process.pid())).start().waitFor(10, TimeUnit.SECONDS);
            assertThat(process.waitFor(30, TimeUnit.SECONDS)).as("the command ends after the answer").isTrue();
            String said = err.join();
            assertThat(process.exitValue()).as(said).isEqualTo(131);
            assertThat(said).contains("waiting for the master to answer", "left task " + id + " running");
        } finally {
            slow.stop(0);
        }
    }

    @Test
    void badInputAWrongTokenAndAnUnreachableMasterEachHaveTheirOwnStatus() throws Exception {
        Result usage = taskgrid("run", "--env", "NOVALUE", "--", "true");
        assertThat(usage.exit()).isEqualTo(2);
        assertThat(usage.stderr()).contains("expected NAME=VALUE");

        Result refused = taskgrid("run", "--retries", "-1", "--", "true");
        assertThat(refused.exit()).as(refused.stderr()).isEqualTo(65);
        assertThat(refused.stderr()).contains("retries");

        Result wrongToken = taskgrid(Map.of("TASKGRID_TOKEN", "tg_not-a-token"), "ls");
        assertThat(wrongToken.exit()).isEqualTo(77);

        Result away = taskgrid(Map.of("TASKGRID_URL", "http://127.0.0.1:1"), "ls");
        assertThat(away.exit()).isEqualTo(69);
        assertThat(away.stderr()).contains("cannot reach the master at http://127.0.0.1:1");

        Path loose = Files.writeString(home.resolve("token"), SharedCluster.cluster().apiToken());
        Files.setPosixFilePermissions(loose, PosixFilePermissions.fromString("rw-r--r--"));
        Result looseFile = taskgrid("ls", "--token-file", loose.toString());
        assertThat(looseFile.exit()).isEqualTo(2);
        assertThat(looseFile.stderr()).contains("chmod 600");

        assertThat(taskgrid("--version").stdout()).startsWith("taskgrid ");
        assertThat(taskgrid("run", "--help").stdout()).contains("Examples:");
        assertThat(taskgrid("generate-completion").stdout()).contains("complete");
    }

    /** A token made with the command line is exactly its role, listed without its secret, and refused once revoked. */
    @Test
    void tokenCreateListAndRevokeMakeAViewerThatStaysAViewer() {
        String name = "cli-viewer-" + Long.toString(System.nanoTime(), 36);
        Result made = taskgrid("token", "create", name, "--role", "viewer", "--expires-in-days", "1");
        assertThat(made.exit()).as(made.stderr()).isZero();
        String secret = made.stdout().strip();
        assertThat(secret).startsWith("tgt_").doesNotContain("\n");
        assertThat(made.stderr()).contains("shown this once");

        Map<String, String> asViewer = Map.of("TASKGRID_TOKEN", secret);
        assertThat(taskgrid(asViewer, "ls", "--limit", "1").exit()).isZero();
        Result submit = taskgrid(asViewer, "submit", "--", "echo from a viewer");
        assertThat(submit.exit()).as("a viewer may not submit: " + submit.stderr()).isEqualTo(77);
        assertThat(taskgrid(asViewer, "token", "ls").exit()).as("nor manage tokens").isEqualTo(77);

        Result listed = taskgrid("token", "ls", "-o", "json");
        assertThat(listed.exit()).isZero();
        JsonObject token = Json.createReader(new StringReader(listed.stdout())).readObject().getJsonArray("tokens")
                .getValuesAs(JsonObject.class).stream().filter(t -> t.getString("name").equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError(name + " not in " + listed.stdout()));
        assertThat(token.getString("role")).isEqualTo("viewer");
        assertThat(listed.stdout()).doesNotContain(secret);
        assertThat(taskgrid("token", "ls").stdout()).contains(name, "viewer", "active");

        Result revoked = taskgrid("token", "revoke", token.getString("id"));
        assertThat(revoked.stdout()).contains("revoked");
        assertThat(taskgrid(asViewer, "ls").exit()).as("refused once revoked").isEqualTo(77);
        assertThat(taskgrid("token", "create", "bad name!", "--role", "viewer").exit()).isEqualTo(65);
    }

    /** {@code ls --label} lists the tasks that require that label, and no other. */
    @Test
    void lsByLabelListsTheTasksThatRequireIt() {
        String value = "v" + Long.toString(System.nanoTime(), 36);
        // No agent has this label: the task stays queued, to be found and then cancelled.
        Result submitted = taskgrid("submit", "--require", "cli-label=" + value, "--", "true");
        assertThat(submitted.exit()).as(submitted.stderr()).isZero();
        String id = submitted.stdout().strip();
        String other = taskgrid("submit", "--require", "cli-label=" + value + "x", "--", "true").stdout().strip();
        Result listed = taskgrid("ls", "--label", "cli-label=" + value, "-o", "json");
        assertThat(listed.exit()).as(listed.stderr()).isZero();
        assertThat(Json.createReader(new StringReader(listed.stdout())).readObject().getJsonArray("tasks")
                .getValuesAs(JsonObject.class)).extracting(task -> task.getString("id")).containsExactly(id);
        Result bad = taskgrid("ls", "--label", "no-equals-sign");
        assertThat(bad.exit()).isEqualTo(65);
        assertThat(bad.stderr()).contains("is not key=value");
        assertThat(taskgrid("cancel", id, other).exit()).isZero();
    }

    /** {@code -o json} on run and logs: one JSON object a line, so scripts need not parse a terminal's text. */
    @Test
    void runAndLogsSpeakJsonLinesWithDashOJson() {
        Result ran = taskgrid("run", "-o", "json", "--", "echo out; echo err >&2; exit 4");
        assertThat(ran.exit()).as(ran.stderr()).isEqualTo(4);
        List<JsonObject> lines = ran.stdout().lines()
                .map(line -> Json.createReader(new StringReader(line)).readObject()).toList();
        assertThat(lines).anySatisfy(event -> {
            assertThat(event.getString("event")).isEqualTo("output");
            assertThat(event.getString("stream")).isEqualTo("stdout");
            assertThat(event.getString("text")).isEqualTo("out\n");
        });
        assertThat(lines).anySatisfy(event -> assertThat(event.getString("text", "")).isEqualTo("err\n"));
        JsonObject task = lines.get(lines.size() - 1);
        assertThat(task.getInt("exitCode")).isEqualTo(4);
        String id = task.getString("id");

        Result stored = taskgrid("logs", "-o", "json", "--stderr", id);
        JsonObject text = Json.createReader(new StringReader(stored.stdout())).readObject();
        assertThat(text.getString("text")).isEqualTo("err\n");
        assertThat(text.getString("stream")).isEqualTo("stderr");
        Result followed = taskgrid("logs", "-f", "-o", "json", id);
        assertThat(followed.exit()).isZero();
        assertThat(followed.stdout().lines().map(line -> Json.createReader(new StringReader(line)).readObject()))
                .anySatisfy(event -> assertThat(event.getString("text", "")).isEqualTo("out\n"));
    }
}
