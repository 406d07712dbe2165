package io.taskgrid.it;

import io.taskgrid.it.cluster.LocalCluster;
import jakarta.json.Json;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.openqa.selenium.By;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.Keys;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.logging.LoggingPreferences;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.logging.Level;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The web dashboard in a real headless Chromium (Debian's chromium and chromium-driver, never downloaded at test time)
 * against the shared cluster: signing in, workers, submitting and following tasks, cancelling, draining, validation
 * errors, what a viewer is offered, a master that goes away and comes back; screenshots go to target/screenshots.
 */
@ExtendWith(SharedCluster.class)
class DashboardIT {

    private static final String VIEWER = "tgv_" + UUID.randomUUID();
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final Path SHOTS = Path.of(SharedCluster.property("taskgrid.log.dir")).getParent().resolve("screenshots");

    private static ChromeDriver browser;

    private final LocalCluster cluster = SharedCluster.cluster();
    private final TaskgridClient api = SharedCluster.client();
    private final String ui = cluster.config().apiBase() + "/ui/";

    @BeforeAll
    static void openBrowserAndAddAViewerToken() throws Exception {
        Path tokens = Path.of(SharedCluster.property("taskgrid.wlp.dir"), "usr/servers/taskgrid/taskgrid-tokens.properties");
        String hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                .digest(VIEWER.getBytes(StandardCharsets.UTF_8)));
        Files.writeString(tokens, "api.viewer-ui = viewer:sha256:" + hash + "\n", StandardOpenOption.APPEND);
        Files.createDirectories(SHOTS);
        browser = startChromium();
    }

    /** Debian's chromium with its own chromedriver: no Selenium Manager, no download. Missing: a loud failure. */
    static ChromeDriver startChromium() {
        File binary = new File(System.getProperty("taskgrid.chromium", "/usr/bin/chromium"));
        File driver = new File(System.getProperty("taskgrid.chromedriver", "/usr/bin/chromedriver"));
        if (!binary.canExecute() || !driver.canExecute()) {
            throw new IllegalStateException("the dashboard tests need Debian's chromium and chromium-driver ("
                    + binary + ", " + driver + "): apt-get install chromium chromium-driver, as .ci/install-packages.sh does");
        }
        ChromeOptions options = new ChromeOptions();
        options.setBinary(binary);
        options.addArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                "--lang=en-US", "--force-color-profile=srgb", "--hide-scrollbars");
        LoggingPreferences logs = new LoggingPreferences();
        logs.enable(LogType.BROWSER, Level.ALL);
        options.setCapability("goog:loggingPrefs", logs);
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(driver)
                .usingAnyFreePort().build();
        return new ChromeDriver(service, options);
    }

    @AfterAll
    static void closeBrowser() {
        if (browser != null) {
            browser.quit();
        }
    }

    @BeforeEach
    void freshTab() {
        browser.manage().window().setSize(new Dimension(1280, 900));
        browser.get(ui);
        js("sessionStorage.clear()");
        browser.get("about:blank");
    }

    /** No script error and no Content-Security-Policy violation in any test. */
    @AfterEach
    void theConsoleHasNoScriptErrorsOrPolicyViolations() {
        List<String> bad = new ArrayList<>();
        for (LogEntry entry : browser.manage().logs().get(LogType.BROWSER)) {
            String message = entry.getMessage();
            if (message.contains("Content Security Policy") || message.contains("Uncaught")
                    || message.contains("SyntaxError") || message.contains("TypeError")) {
                bad.add(message);
            }
        }
        assertThat(bad).as("script errors or CSP violations in the browser console").isEmpty();
    }

    // ---- helpers ----

    private Object js(String script, Object... args) {
        return ((JavascriptExecutor) browser).executeScript(script, args);
    }

    private WebDriverWait waiting() {
        return new WebDriverWait(browser, WAIT, Duration.ofMillis(100));
    }

    private WebElement visible(By by) {
        return waiting().until(ExpectedConditions.visibilityOfElementLocated(by));
    }

    private void textIs(By by, String text) {
        waiting().until(ExpectedConditions.textToBe(by, text));
    }

    private void textContains(By by, String text) {
        waiting().until(ExpectedConditions.textToBePresentInElementLocated(by, text));
    }

    private void signIn(String token) {
        browser.get(ui);
        visible(By.id("token")).sendKeys(token, Keys.ENTER);
        visible(By.id("top"));
    }

    private void go(String hash) {
        browser.get(ui + hash);
        visible(By.id("top"));
    }

    private void screenshot(String name) throws IOException {
        File shot = browser.getScreenshotAs(OutputType.FILE);
        Files.copy(shot.toPath(), SHOTS.resolve(name + ".png"), StandardCopyOption.REPLACE_EXISTING);
    }

    /** The output viewer's text as the page has it (every line, not only the rows in view). */
    private String output(String stream) {
        return (String) js("const el = document.getElementById(arguments[0]);"
                + "return el ? Array.from(el.querySelectorAll('.log-row')).map(r => r.textContent).join('\\n') : '';", stream);
    }

    private String submitThroughTheApi(String cmd) {
        return api.submitCmd(cmd);
    }

    /** Whether this master streams output as Server-Sent Events (GET /tasks/{id}/output?follow=true). */
    private boolean masterStreamsOutput() throws Exception {
        String id = submitThroughTheApi("echo probe");
        api.awaitFinal(id, WAIT);
        HttpRequest request = HttpRequest.newBuilder(URI.create(cluster.config().apiBase() + "/tasks/" + id
                        + "/output?stream=stdout&follow=true"))
                .header("Authorization", "Bearer " + cluster.apiToken()).header("Accept", "text/event-stream")
                .timeout(Duration.ofSeconds(10)).build();
        HttpResponse<InputStream> response = HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofInputStream());
        response.body().close();
        return response.statusCode() == 200
                && response.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream");
    }

    // ---- tests ----

    @Test
    void theUiIsServedWithoutATokenUnderAStrictPolicyAndTheApiStillNeedsOne() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<String> page = http.send(HttpRequest.newBuilder(URI.create(ui)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.headers().firstValue("Content-Type").orElse("")).startsWith("text/html");
        assertThat(page.headers().firstValue("Content-Security-Policy").orElse(""))
                .contains("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'").doesNotContain("unsafe-inline");
        assertThat(page.headers().firstValue("X-Content-Type-Options")).contains("nosniff");
        assertThat(page.headers().firstValue("Referrer-Policy")).contains("no-referrer");
        assertThat(page.body()).contains("<script type=\"module\" src=\"js/main.js\"></script>").doesNotContain("<script>");

        HttpResponse<String> script = http.send(HttpRequest.newBuilder(URI.create(ui + "js/main.js"))
                .header("Accept-Encoding", "gzip").build(), HttpResponse.BodyHandlers.ofString());
        assertThat(script.statusCode()).isEqualTo(200);
        assertThat(script.headers().firstValue("Content-Type").orElse("")).startsWith("text/javascript");
        assertThat(script.headers().firstValue("Content-Encoding")).contains("gzip");
        String etag = script.headers().firstValue("ETag").orElseThrow();
        assertThat(http.send(HttpRequest.newBuilder(URI.create(ui + "js/main.js")).header("Accept-Encoding", "gzip")
                .header("If-None-Match", etag).build(), HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(304);
        assertThat(http.send(HttpRequest.newBuilder(URI.create(ui + "../WEB-INF/beans.xml")).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode()).isIn(400, 401, 404);
        assertThat(http.send(HttpRequest.newBuilder(URI.create(ui + "nothing.js")).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(404);

        HttpResponse<String> root = http.send(HttpRequest.newBuilder(URI.create(cluster.config().apiBase() + "/"))
                .header("Accept", "text/html,application/xhtml+xml").build(), HttpResponse.BodyHandlers.ofString());
        assertThat(root.statusCode()).as("a browser opening the root is sent to the dashboard").isEqualTo(302);
        assertThat(root.headers().firstValue("Location")).contains("/ui/");
        assertThat(api.withToken(null).get("/tasks").status()).as("the API still needs a token").isEqualTo(401);
        assertThat(api.withToken(null).get("/me").status()).isEqualTo(401);
        JsonObject me = api.get("/me").json();
        assertThat(me.getString("name")).isEqualTo("operator");
        assertThat(me.getString("role")).isEqualTo("operator");
        JsonObject counts = api.get("/tasks/counts").json();
        assertThat(counts.getJsonObject("counts").keySet()).contains("QUEUED", "RUNNING", "SUCCEEDED", "LOST");
        assertThat(counts.getJsonNumber("total").longValue()).isGreaterThanOrEqualTo(0);
    }

    @Test
    void anOperatorSignsInAndSeesTheThreeWorkers() throws Exception {
        signIn(cluster.apiToken());
        textContains(By.id("who"), "operator");
        textIs(By.id("workers-connected"), Integer.toString(cluster.config().workers()));
        browser.findElement(By.cssSelector("#nav a[href='#/workers']")).click();
        for (String id : cluster.configuredWorkerIds()) {
            visible(By.cssSelector("[data-worker-row='" + id + "']"));
        }
        assertThat(browser.findElements(By.cssSelector("[data-worker-row]"))).hasSize(cluster.config().workers());
        textContains(By.id("workers-summary"), cluster.config().workers() + " connected");
        screenshot("workers");
        assertThat(browser.getCurrentUrl()).as("the token is never in a URL").doesNotContain(cluster.apiToken());
        assertThat((String) js("return document.cookie")).isEmpty();
    }

    @Test
    void aTaskSubmittedFromTheFormReachesSucceededWithItsColouredOutput() throws Exception {
        signIn(cluster.apiToken());
        browser.findElement(By.cssSelector("#nav a[href='#/submit']")).click();
        visible(By.id("f-cmd")).sendKeys("printf '\\033[32mgreen\\033[0m hello from the dashboard\\n'; echo oops >&2");
        browser.findElement(By.id("f-env")).sendKeys("GREETING=hi");
        browser.findElement(By.id("submit")).click();
        waiting().until(ExpectedConditions.urlMatches("#/tasks/[0-9a-f-]{36}$"));
        String id = browser.getCurrentUrl().replaceAll(".*#/tasks/", "");
        textIs(By.cssSelector("#task-state .badge"), "SUCCEEDED");
        waiting().until(d -> output("stdout").contains("green hello from the dashboard"));
        assertThat(browser.findElement(By.cssSelector("#stdout span.a-fg-2")).getText()).isEqualTo("green");
        browser.findElement(By.id("tab-stderr")).click();
        waiting().until(d -> output("stderr").contains("oops"));
        browser.findElement(By.id("tab-stdout")).click();
        textIs(By.id("task-exit"), "0");
        assertThat(browser.findElements(By.cssSelector("#attempts tbody tr"))).hasSize(1);
        assertThat(browser.findElement(By.cssSelector("#attempts tbody tr")).getText())
                .as("attempts show exact times, to the millisecond").containsPattern("\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3}");
        screenshot("task");

        JsonObject task = api.task(id);
        assertThat(task.getString("state")).isEqualTo("SUCCEEDED");
        assertThat(task.getString("submittedBy")).isEqualTo("operator");
        assertThat(task.getJsonObject("env").getString("GREETING")).isEqualTo("hi");

        // Submit again: the form comes back with the same fields.
        browser.findElement(By.id("submit-again")).click();
        waiting().until(d -> browser.findElement(By.id("f-cmd")).getAttribute("value").contains("hello from the dashboard"));
        assertThat(browser.findElement(By.id("f-env")).getAttribute("value")).isEqualTo("GREETING=hi");
    }

    @Test
    void theOutputOfARunningTaskIsFollowedWhileItRuns() throws Exception {
        boolean live = masterStreamsOutput();
        String id = submitThroughTheApi("for i in 1 2 3 4 5 6 7 8; do echo \"tick $i\"; sleep 1; done");
        signIn(cluster.apiToken());
        go("#/tasks/" + id);
        textIs(By.cssSelector("#task-state .badge"), "RUNNING");
        if (live) {
            waiting().until(d -> output("stdout").contains("tick 2"));
            assertThat(browser.findElement(By.cssSelector("#task-state .badge")).getText())
                    .as("output arrives while the task runs").isEqualTo("RUNNING");
            textContains(By.id("output-status"), "Following live output");
        } else {
            // This master has no live output endpoint: the page says so and refreshes what there is.
            textContains(By.id("output-status"), "refreshed every 2 s");
        }
        screenshot("task-running");
        textIs(By.cssSelector("#task-state .badge"), "SUCCEEDED");
        waiting().until(d -> output("stdout").contains("tick 8"));
        assertThat(output("stdout")).contains("tick 1", "tick 5");
    }

    @Test
    void aMebibyteOfOutputIsVirtualisedAndStaysResponsive() {
        String id = submitThroughTheApi("seq 1 200000");
        api.awaitFinal(id, WAIT);
        signIn(cluster.apiToken());
        go("#/tasks/" + id);
        textIs(By.cssSelector("#task-state .badge"), "SUCCEEDED");
        textContains(By.id("output-status"), "was cut");
        waiting().until(d -> output("stdout").contains("\n"));
        long rows = (Long) js("return document.querySelectorAll('#stdout .log-row').length");
        assertThat(rows).as("only the rows in view (and a margin) are in the page").isLessThan(200);
        // Jump to the top and back to the end: each takes one frame, not a freeze.
        Number took = (Number) ((JavascriptExecutor) browser).executeAsyncScript(
                "const done = arguments[arguments.length - 1]; const log = document.getElementById('stdout');"
                        + "const t0 = performance.now(); log.scrollTop = 0;"
                        + "requestAnimationFrame(() => requestAnimationFrame(() => { const first = log.querySelector('.log-row').textContent;"
                        + " log.scrollTop = log.scrollHeight;"
                        + " requestAnimationFrame(() => requestAnimationFrame(() => done(first === '1' ? performance.now() - t0 : -1))); }));");
        assertThat(took.doubleValue()).as("milliseconds to render the top and the end again").isBetween(0.0, 1000.0);
    }

    @Test
    void aSleepIsCancelledFromItsPage() {
        String id = submitThroughTheApi("sleep 300");
        api.awaitState(id, Set.of("RUNNING"), WAIT);
        signIn(cluster.apiToken());
        go("#/tasks/" + id);
        visible(By.id("cancel")).click();
        visible(By.id("confirm-yes")).click();
        textIs(By.cssSelector("#task-state .badge"), "CANCELLED");
        assertThat(api.state(id)).isEqualTo("CANCELLED");
        textIs(By.id("task-cancelled-by"), "operator");
        assertThat(browser.findElements(By.id("cancel"))).as("nothing left to cancel").isEmpty();
    }

    @Test
    void anOperatorDrainsAWorkerAfterConfirming() {
        List<String> ids = cluster.configuredWorkerIds();
        String worker = ids.get(ids.size() - 1);
        try {
            signIn(cluster.apiToken());
            go("#/workers");
            visible(By.cssSelector("[data-worker='" + worker + "']")).click();
            visible(By.id("confirm-no")).click();
            assertThat(api.workers().stream().filter(w -> w.getString("id").equals(worker)).findFirst().orElseThrow()
                    .getBoolean("draining")).as("'Keep it' drains nothing").isFalse();
            visible(By.cssSelector("[data-worker='" + worker + "']")).click();
            visible(By.id("confirm-yes")).click();
            textContains(By.cssSelector("[data-worker-row='" + worker + "']"), "DRAINING");
            assertThat(api.workers().stream().filter(w -> w.getString("id").equals(worker)).findFirst().orElseThrow()
                    .getBoolean("draining")).isTrue();
        } finally {
            // A drain lasts until the agent reconnects: restart it, so the next test has every worker again.
            cluster.stopAgent(worker);
            cluster.ensureAllRunning();
        }
    }

    @Test
    void anOperatorMakesATokenSeesItsSecretOnceAndRevokesIt() {
        signIn(cluster.apiToken());
        go("#/tokens");
        String name = "ui-" + System.nanoTime();
        visible(By.id("t-name")).sendKeys(name);
        new org.openqa.selenium.support.ui.Select(browser.findElement(By.id("t-role"))).selectByValue("viewer");
        browser.findElement(By.cssSelector("#token-form button[type=submit]")).click();
        String secret = visible(By.id("token-secret")).getText();
        assertThat(secret).startsWith("tgt_");
        assertThat(api.withToken(secret).get("/tasks?limit=1").status()).as("the secret shown works").isEqualTo(200);
        WebElement row = visible(By.xpath("//tr[td[1][text()='" + name + "']]"));
        assertThat(row.getText()).contains("viewer").contains("ACTIVE").doesNotContain(secret);
        row.findElement(By.cssSelector("button[data-token]")).click();
        visible(By.id("confirm-yes")).click();
        textContains(By.xpath("//tr[td[1][text()='" + name + "']]"), "REVOKED");
        assertThat(api.withToken(secret).get("/tasks?limit=1").status()).as("refused once revoked").isEqualTo(401);
        go("#/workers");
        go("#/tokens");
        visible(By.xpath("//tr[td[1][text()='" + name + "']]"));
        assertThat(browser.getPageSource()).as("the secret is shown once only").doesNotContain(secret);
    }

    @Test
    void theApisRefusalIsShownNextToTheFieldItNames() throws Exception {
        signIn(cluster.apiToken());
        go("#/submit");
        String before = api.newestTaskId();
        visible(By.id("f-cmd")).sendKeys("true");
        browser.findElement(By.id("f-timeoutSeconds")).sendKeys("0");
        browser.findElement(By.id("submit")).click();
        textContains(By.id("f-timeoutSeconds-error"), "'timeoutSeconds'");
        assertThat(browser.findElement(By.id("f-timeoutSeconds")).getAttribute("aria-invalid")).isEqualTo("true");
        assertThat(browser.switchTo().activeElement().getAttribute("id")).as("focus goes to the field").isEqualTo("f-timeoutSeconds");
        screenshot("validation");

        browser.findElement(By.id("f-timeoutSeconds")).clear();
        WebElement cmd = browser.findElement(By.id("f-cmd"));
        cmd.clear();
        cmd.sendKeys("   ");
        browser.findElement(By.id("submit")).click();
        textContains(By.id("f-cmd-error"), "'cmd' must not be blank");
        assertThat(browser.findElement(By.id("f-timeoutSeconds-error")).getText()).isEmpty();
        assertThat(api.newestTaskId()).as("no task was created").isEqualTo(before);
    }

    @Test
    void aViewerIsOfferedNothingItMayNotDo() {
        String id = submitThroughTheApi("sleep 30");
        try {
            signIn(VIEWER);
            textContains(By.id("who"), "viewer");
            assertThat(browser.findElement(By.cssSelector("#nav a[href='#/submit']")).isDisplayed()).isFalse();
            go("#/tasks/" + id);
            visible(By.cssSelector("#task-state .badge"));
            assertThat(browser.findElements(By.id("cancel"))).isEmpty();
            assertThat(browser.findElements(By.id("submit-again"))).isEmpty();
            go("#/workers");
            visible(By.cssSelector("[data-worker-row]"));
            assertThat(browser.findElements(By.cssSelector("button[data-worker]"))).as("no drain buttons").isEmpty();
            go("#/submit");
            textContains(By.id("not-allowed"), "viewer");
            assertThat(browser.findElements(By.id("submit"))).isEmpty();
            assertThat(browser.findElement(By.cssSelector("#nav a[href='#/tokens']")).isDisplayed()).isFalse();
            go("#/tokens");
            textContains(By.id("not-allowed"), "viewer");
            assertThat(browser.findElements(By.id("token-form"))).isEmpty();
        } finally {
            api.send(HttpRequest.newBuilder(URI.create(cluster.config().apiBase() + "/tasks/" + id)).DELETE().build());
        }
    }

    @Test
    void whenTheMasterGoesAwayThePageSaysSoAndRecoversWithoutAReload() throws Exception {
        signIn(cluster.apiToken());
        textIs(By.id("workers-connected"), Integer.toString(cluster.config().workers()));
        js("window.__sameDocument = 'yes'");
        cluster.stopMaster();
        try {
            textContains(By.id("banner"), "unreachable");
            screenshot("master-gone");
        } finally {
            cluster.ensureAllRunning();
        }
        waiting().until(ExpectedConditions.invisibilityOfElementLocated(By.id("banner")));
        textIs(By.id("workers-connected"), Integer.toString(cluster.config().workers()));
        assertThat(js("return window.__sameDocument")).as("recovered without reloading the page").isEqualTo("yes");
        assertThat(browser.findElement(By.id("who")).getText()).as("still signed in").contains("operator");
    }

    @Test
    void firstLoadWeightAndTimeToFirstRenderAreMeasured() throws Exception {
        browser.executeCdpCommand("Network.clearBrowserCache", Map.of());
        browser.get(ui);
        visible(By.id("token"));
        @SuppressWarnings("unchecked")
        Map<String, Object> signInPage = (Map<String, Object>) js(PAGE_WEIGHT);
        visible(By.id("token")).sendKeys(cluster.apiToken(), Keys.ENTER);
        textIs(By.id("workers-connected"), Integer.toString(cluster.config().workers()));
        waiting().until(d -> !browser.findElements(By.cssSelector("#latest-tasks tbody tr")).isEmpty());
        @SuppressWarnings("unchecked")
        Map<String, Object> overview = (Map<String, Object>) js(PAGE_WEIGHT);
        String report = Json.createObjectBuilder()
                .add("firstLoadStaticBytes", ((Number) overview.get("staticBytes")).longValue())
                .add("firstLoadStaticFiles", ((Number) overview.get("staticFiles")).longValue())
                .add("firstLoadStaticUncompressedBytes", ((Number) overview.get("staticDecodedBytes")).longValue())
                .add("apiBytesUntilOverviewFilled", ((Number) overview.get("apiBytes")).longValue())
                .add("firstContentfulPaintMillis", ((Number) signInPage.get("fcp")).doubleValue())
                .add("domContentLoadedMillis", ((Number) signInPage.get("domContentLoaded")).doubleValue())
                .build().toString();
        Files.writeString(SHOTS.resolve("page-weight.json"), report + "\n");
        System.out.println("DashboardIT page weight and first render: " + report);
        assertThat(((Number) overview.get("staticBytes")).longValue()).as("bytes of the dashboard's own files")
                .isLessThan(150_000);
        assertThat(((Number) signInPage.get("fcp")).doubleValue()).isGreaterThan(0);
    }

    private static final String PAGE_WEIGHT = "const nav = performance.getEntriesByType('navigation')[0];"
            + "const res = performance.getEntriesByType('resource');"
            + "const own = res.filter(r => r.initiatorType !== 'fetch' && r.initiatorType !== 'xmlhttprequest');"
            + "const api = res.filter(r => r.initiatorType === 'fetch');"
            + "const paint = performance.getEntriesByType('paint').find(p => p.name === 'first-contentful-paint');"
            + "return {staticBytes: nav.transferSize + own.reduce((n, r) => n + r.transferSize, 0),"
            + " staticDecodedBytes: nav.decodedBodySize + own.reduce((n, r) => n + r.decodedBodySize, 0),"
            + " staticFiles: 1 + own.length, apiBytes: api.reduce((n, r) => n + r.transferSize, 0),"
            + " fcp: paint ? paint.startTime : -1, domContentLoaded: nav.domContentLoadedEventEnd};";

    /**
     * Makes the pictures of the README and docs/dashboard.md, asserting nothing a test above does not; it takes 40 s
     * of a busy cluster, so it runs only when asked:
     * {@code ./mvnw -Pcluster verify -pl src-it -Dit.test=DashboardIT -Ddashboard.screenshots=true}.
     */
    @Test
    void screenshotsOfABusyClusterForTheReadme() throws Exception {
        assumeTrue(Boolean.getBoolean("dashboard.screenshots"),
                "the documentation's screenshots only with -Ddashboard.screenshots=true");
        List<String> sleepers = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            sleepers.add(submitThroughTheApi("echo building part " + i + "; sleep 60"));
        }
        browser.manage().window().setSize(new Dimension(1280, 1000));
        signIn(cluster.apiToken());
        try {
            // Half a minute of steady work on the one free slot: quick reports, a failure now and then, and short
            // sleeps that make the queue grow and shrink, so the charts have something to show.
            for (int round = 0; round < 20; round++) {
                for (int i = 0; i < 4; i++) {
                    submitThroughTheApi("echo report " + round + "-" + i);
                }
                submitThroughTheApi(round % 4 == 3 ? "echo 'disk check failed' >&2; exit 3" : "sleep 0.5");
                if (round < 10) {
                    submitThroughTheApi("sleep 0.5");
                }
                TaskgridClient.sleep(1500);
            }
            TaskgridClient.sleep(2500);
            screenshot("overview");
            go("#/tasks");
            visible(By.cssSelector("#tasks tbody tr[data-task]"));
            screenshot("tasks");
            browser.executeCdpCommand("Emulation.setEmulatedMedia",
                    Map.of("features", List.of(Map.of("name", "prefers-color-scheme", "value", "dark"))));
            go("#/");
            textIs(By.id("workers-connected"), Integer.toString(cluster.config().workers()));
            TaskgridClient.sleep(2500);
            screenshot("overview-dark");
            browser.executeCdpCommand("Emulation.setEmulatedMedia", Map.of("features", List.of()));
            browser.manage().window().setSize(new Dimension(390, 844));
            go("#/tasks");
            visible(By.cssSelector("#tasks tbody tr[data-task]"));
            screenshot("tasks-phone");
        } finally {
            for (String id : sleepers) {
                api.send(HttpRequest.newBuilder(URI.create(cluster.config().apiBase() + "/tasks/" + id)).DELETE().build());
            }
        }
    }
}
