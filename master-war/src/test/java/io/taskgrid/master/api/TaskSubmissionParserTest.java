package io.taskgrid.master.api;

import io.taskgrid.master.task.NewTask;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TaskSubmissionParserTest {

    @Test
    void acceptsTheMinimalRequest() {
        NewTask task = TaskSubmissionParser.parse("{\"cmd\": \"echo hello world\"}");
        assertThat(task.cmd()).isEqualTo("echo hello world");
        assertThat(task.env()).isEmpty();
        assertThat(task.cwd()).isNull();
        assertThat(task.timeoutSeconds()).isNull();
    }

    @Test
    void acceptsEveryOptionalField() {
        NewTask task = TaskSubmissionParser.parse("""
                {"cmd": "ls | wc -l", "timeoutSeconds": 30, "env": {"FOO": "bar", "_X1": ""}, "cwd": "/tmp"}
                """);
        assertThat(task.cmd()).isEqualTo("ls | wc -l");
        assertThat(task.timeoutSeconds()).isEqualTo(30L);
        assertThat(task.env()).isEqualTo(Map.of("FOO", "bar", "_X1", ""));
        assertThat(task.cwd()).isEqualTo("/tmp");
    }

    @Test
    void retriesAndMaxAttemptsAreRead() {
        NewTask task = TaskSubmissionParser.parse("{\"cmd\":\"true\",\"retries\":2,\"maxAttempts\":5}");
        assertThat(task.retries()).isEqualTo(2);
        assertThat(task.maxAttempts()).isEqualTo(5);
        assertThat(TaskSubmissionParser.parse("{\"cmd\":\"true\"}").retries()).isNull();
    }

    @Test
    void priorityAndRequiredLabelsAreRead() {
        NewTask task = TaskSubmissionParser.parse("{\"cmd\":\"true\",\"priority\":9,"
                + "\"requires\":{\"os\":\"linux\",\"gpu\":\"a100\"}}");
        assertThat(task.priority()).isEqualTo(9);
        assertThat(task.requires().canonical()).isEqualTo("gpu=a100,os=linux");
        NewTask plain = TaskSubmissionParser.parse("{\"cmd\":\"true\"}");
        assertThat(plain.priority()).isNull();
        assertThat(plain.requires().isEmpty()).isTrue();
        assertThat(TaskSubmissionParser.parse("{\"cmd\":\"true\",\"priority\":0,\"requires\":{}}").priority())
                .isZero();
    }

    @Test
    void secretEnvIsReadApartFromEnvAndNeverPrinted() {
        NewTask task = TaskSubmissionParser.parse("{\"cmd\":\"true\",\"env\":{\"A\":\"1\"},\"secretEnv\":{\"TOKEN\":\"hunter2\"}}");
        assertThat(task.env()).isEqualTo(Map.of("A", "1"));
        assertThat(task.secretEnv()).isEqualTo(Map.of("TOKEN", "hunter2"));
        assertThat(task.toString()).contains("TOKEN").doesNotContain("hunter2");
        assertThatThrownBy(() -> TaskSubmissionParser.parse("{\"cmd\":\"true\",\"env\":{\"T\":\"1\"},\"secretEnv\":{\"T\":\"2\"}}"))
                .hasMessageContaining("both env and secretEnv").hasMessageNotContaining("2\"");
        assertThatThrownBy(() -> TaskSubmissionParser.parse("{\"cmd\":\"true\",\"secretEnv\":{\"T\":5}}"))
                .hasMessageContaining("'secretEnv.T' must be a string");
    }

    @Test
    void nullOptionalFieldsMeanAbsent() {
        NewTask task = TaskSubmissionParser.parse("{\"cmd\":\"true\",\"timeoutSeconds\":null,\"env\":null,\"cwd\":null}");
        assertThat(task.timeoutSeconds()).isNull();
        assertThat(task.env()).isEmpty();
        assertThat(task.cwd()).isNull();
    }

    @Test
    void wholeNumbersWrittenWithAnExponentOrTrailingZerosAreWhole() {
        assertThat(TaskSubmissionParser.parse("{\"cmd\":\"true\",\"timeoutSeconds\":1e2}").timeoutSeconds()).isEqualTo(100L);
        assertThat(TaskSubmissionParser.parse("{\"cmd\":\"true\",\"timeoutSeconds\":5.0}").timeoutSeconds()).isEqualTo(5L);
    }

    @Test
    void acceptsACommandOfExactly64KiB() {
        String cmd = "#" + "x".repeat(64 * 1024 - 1);
        assertThat(TaskSubmissionParser.parse("{\"cmd\":\"" + cmd + "\"}").cmd()).hasSize(64 * 1024);
    }

    static Stream<Arguments> badBodies() {
        return Stream.of(
                Arguments.of("", "empty"),
                Arguments.of("   ", "empty"),
                Arguments.of("{\"cmd\": ", "malformed JSON"),
                Arguments.of("{cmd: \"x\"}", "malformed JSON"),
                Arguments.of("not json", "malformed JSON"),
                Arguments.of("[\"echo\"]", "must be a JSON object, not an array"),
                Arguments.of("\"echo hi\"", "must be a JSON object, not a string"),
                Arguments.of("42", "must be a JSON object, not a number"),
                Arguments.of("null", "must be a JSON object, not null"),
                Arguments.of("{}", "'cmd' is required"),
                Arguments.of("{\"cmd\": null}", "'cmd' is required"),
                Arguments.of("{\"cmd\": 42}", "'cmd' must be a string, not a number"),
                Arguments.of("{\"cmd\": [\"ls\"]}", "'cmd' must be a string, not an array"),
                Arguments.of("{\"cmd\": true}", "'cmd' must be a string, not a boolean"),
                Arguments.of("{\"cmd\": \"\"}", "'cmd' must not be blank"),
                Arguments.of("{\"cmd\": \" \\t\\n \"}", "'cmd' must not be blank"),
                Arguments.of("{\"cmd\": \"echo \\u0000 hi\"}", "NUL"),
                Arguments.of("{\"cmd\": \"" + "x".repeat(64 * 1024 + 1) + "\"}", "at most 65536"),
                Arguments.of("{\"cmd\": \"" + "é".repeat(40 * 1024) + "\"}", "at most 65536"),
                Arguments.of("{\"cmd\": \"a\", \"cmd\": \"b\"}", "malformed JSON"),
                Arguments.of("{\"cmd\": \"true\", \"comand\": \"x\"}", "unknown field 'comand'"),
                Arguments.of("{\"cmd\": \"true\", \"timeoutSeconds\": 0}", "'timeoutSeconds' must be a whole number"),
                Arguments.of("{\"cmd\": \"true\", \"timeoutSeconds\": -5}", "'timeoutSeconds' must be a whole number"),
                Arguments.of("{\"cmd\": \"true\", \"timeoutSeconds\": 1.5}", "got a fraction"),
                Arguments.of("{\"cmd\": \"true\", \"timeoutSeconds\": \"10\"}", "not a string"),
                Arguments.of("{\"cmd\": \"true\", \"timeoutSeconds\": 604801}", "got 604801"),
                Arguments.of("{\"cmd\": \"true\", \"timeoutSeconds\": 1e400}", "'timeoutSeconds' must be a whole number"),
                Arguments.of("{\"cmd\": \"true\", \"timeoutSeconds\": 99999999999999999999999}", "'timeoutSeconds'"),
                Arguments.of("2e+99999999999", "out of range"),
                Arguments.of("{\"cmd\": \"true\", \"timeoutSeconds\": 1e+99999999999}", "out of range"),
                Arguments.of("{\"cmd\": \"true\", \"env\": [\"A=1\"]}", "'env' must be an object"),
                Arguments.of("{\"cmd\": \"true\", \"env\": \"A=1\"}", "'env' must be an object"),
                Arguments.of("{\"cmd\": \"true\", \"env\": {\"A\": 1}}", "'env.A' must be a string, not a number"),
                Arguments.of("{\"cmd\": \"true\", \"env\": {\"A\": null}}", "'env.A' must be a string, not null"),
                Arguments.of("{\"cmd\": \"true\", \"env\": {\"A\": {\"b\": \"c\"}}}", "'env.A' must be a string"),
                Arguments.of("{\"cmd\": \"true\", \"env\": {\"1A\": \"x\"}}", "'1A' is not a valid variable name"),
                Arguments.of("{\"cmd\": \"true\", \"env\": {\"A-B\": \"x\"}}", "'A-B' is not a valid variable name"),
                Arguments.of("{\"cmd\": \"true\", \"env\": {\"\": \"x\"}}", "is not a valid variable name"),
                Arguments.of("{\"cmd\": \"true\", \"env\": {\"A=B\": \"x\"}}", "is not a valid variable name"),
                Arguments.of("{\"cmd\": \"true\", \"env\": {\"A\": \"x\\u0000y\"}}", "NUL"),
                Arguments.of("{\"cmd\": \"true\", \"cwd\": \"tmp\"}", "'cwd' must be an absolute path"),
                Arguments.of("{\"cmd\": \"true\", \"cwd\": \"\"}", "'cwd' must be an absolute path"),
                Arguments.of("{\"cmd\": \"true\", \"cwd\": 7}", "'cwd' must be an absolute path as a string"),
                Arguments.of("{\"cmd\": \"true\", \"cwd\": \"/tmp/\\u0000\"}", "control characters"),
                Arguments.of("{\"cmd\": \"true\", \"cwd\": \"/x\\r\\nINFO forged agent line\"}", "control characters"),
                Arguments.of("{\"cmd\": \"true\", \"cwd\": \"/x\\u001b[31m\"}", "control characters"),
                Arguments.of("{\"cmd\": \"true\", \"retries\": -1}", "'retries' must be a whole number from 0 to 100"),
                Arguments.of("{\"cmd\": \"true\", \"retries\": 101}", "'retries'"),
                Arguments.of("{\"cmd\": \"true\", \"retries\": \"2\"}", "'retries'"),
                Arguments.of("{\"cmd\": \"true\", \"maxAttempts\": 0}", "'maxAttempts' must be a whole number from 1 to 100"),
                Arguments.of("{\"cmd\": \"true\", \"maxAttempts\": 1.5}", "'maxAttempts'"),
                Arguments.of("{\"cmd\": \"true\", \"priority\": 10}", "'priority' must be a whole number from 0 to 9"),
                Arguments.of("{\"cmd\": \"true\", \"priority\": -1}", "'priority' must be a whole number from 0 to 9"),
                Arguments.of("{\"cmd\": \"true\", \"priority\": \"high\"}", "'priority'"),
                Arguments.of("{\"cmd\": \"true\", \"requires\": [\"os=linux\"]}", "'requires' must be an object"),
                Arguments.of("{\"cmd\": \"true\", \"requires\": {\"os\": 1}}", "'requires' values must be strings"),
                Arguments.of("{\"cmd\": \"true\", \"requires\": {\"os\": \"\"}}", "is empty"),
                Arguments.of("{\"cmd\": \"true\", \"requires\": {\"o s\": \"linux\"}}", "may hold only letters"),
                Arguments.of("{\"cmd\": \"true\", \"requires\": {\"os\": \"lin=ux\"}}", "may hold only letters"),
                Arguments.of("{\"cmd\": \"true\", \"requires\": {\"-os\": \"linux\"}}", "starting with a letter"),
                Arguments.of("{\"cmd\": \"true\", \"requires\": {\"os\": \"" + "x".repeat(64) + "\"}}",
                        "64 characters long; at most 63"));
    }

    @ParameterizedTest(name = "[{index}] {1}")
    @MethodSource("badBodies")
    void refusesBadInputWithAReason(String body, String reason) {
        assertThatThrownBy(() -> TaskSubmissionParser.parse(body))
                .isInstanceOfSatisfying(ApiProblem.class, problem -> {
                    assertThat(problem.status()).isEqualTo(400);
                    assertThat(problem.getMessage()).contains(reason);
                });
    }

    @Test
    void refusesMoreThanSixteenRequiredLabels() {
        StringBuilder labels = new StringBuilder();
        for (int i = 0; i <= 16; i++) {
            labels.append(i == 0 ? "" : ",").append("\"k").append(i).append("\":\"v\"");
        }
        assertThatThrownBy(() -> TaskSubmissionParser.parse("{\"cmd\":\"true\",\"requires\":{" + labels + "}}"))
                .hasMessageContaining("17 labels; at most 16");
    }

    @Test
    void refusesTooManyEnvironmentEntries() {
        StringBuilder env = new StringBuilder();
        for (int i = 0; i <= TaskSubmissionParser.MAX_ENV_ENTRIES; i++) {
            env.append(i == 0 ? "" : ",").append("\"V").append(i).append("\":\"x\"");
        }
        assertThatThrownBy(() -> TaskSubmissionParser.parse("{\"cmd\":\"true\",\"env\":{" + env + "}}"))
                .hasMessageContaining("at most " + TaskSubmissionParser.MAX_ENV_ENTRIES);
    }

    /**
     * Single-character mutations of a valid request: each is either still a valid task that keeps every rule, or a 400
     * with a reason. Both outcomes must actually occur, or the test would be checking one branch only.
     */
    @Test
    void mutatedRequestsAreEitherValidOrRefusedWithAReason() {
        String valid = "{\"cmd\":\"echo hi\",\"timeoutSeconds\":30,\"env\":{\"A\":\"1\"},\"cwd\":\"/tmp\","
                + "\"retries\":2,\"maxAttempts\":3}";
        java.util.Random random = new java.util.Random(42);
        String alphabet = "{}[]\":,0123456789.eE+- \\u0000abcmdtruefalsnl";
        int accepted = 0;
        int refused = 0;
        for (int i = 0; i < 5000; i++) {
            StringBuilder body = new StringBuilder(valid);
            for (int edits = 1 + random.nextInt(2); edits > 0; edits--) {
                int at = random.nextInt(body.length());
                char c = alphabet.charAt(random.nextInt(alphabet.length()));
                switch (random.nextInt(3)) {
                    case 0 -> body.deleteCharAt(at);
                    case 1 -> body.insert(at, c);
                    default -> body.setCharAt(at, c);
                }
            }
            try {
                NewTask task = TaskSubmissionParser.parse(body.toString());
                assertThat(task.cmd()).isNotBlank().doesNotContain("\0");
                if (task.timeoutSeconds() != null) {
                    assertThat(task.timeoutSeconds()).isBetween(1L, TaskSubmissionParser.MAX_TIMEOUT_SECONDS);
                }
                if (task.retries() != null) {
                    assertThat(task.retries()).isBetween(0, TaskSubmissionParser.MAX_RETRIES);
                }
                if (task.cwd() != null) {
                    assertThat(task.cwd()).startsWith("/");
                }
                accepted++;
            } catch (ApiProblem expected) {
                assertThat(expected.status()).isEqualTo(400);
                assertThat(expected.getMessage()).isNotBlank().hasSizeLessThan(400);
                refused++;
            }
        }
        assertThat(accepted).as("mutations that stay valid").isGreaterThan(100);
        assertThat(refused).as("mutations that are refused").isGreaterThan(100);
    }

    static Stream<String> numericFields() {
        return Stream.of("timeoutSeconds", "retries", "maxAttempts", "priority");
    }

    /** Valid JSON numbers of a dozen characters whose plain rendering is a billion digits long. */
    @ParameterizedTest
    @MethodSource("numericFields")
    void hugeExponentsAreRefusedAtOnceWithoutExpandingTheNumber(String field) {
        for (String number : java.util.List.of("1e999999999", "-1e999999999", "1e-999999999", "1.5e-999999999",
                "9e2147483647", "1E+999999999", "0.000000000000000000000000000001")) {
            String body = "{\"cmd\":\"true\",\"" + field + "\":" + number + "}";
            long started = System.nanoTime();
            assertThatThrownBy(() -> TaskSubmissionParser.parse(body))
                    .as(number)
                    .isInstanceOfSatisfying(ApiProblem.class, problem -> {
                        assertThat(problem.status()).isEqualTo(400);
                        assertThat(problem.getMessage()).contains("'" + field + "'").hasSizeLessThan(200);
                    });
            assertThat(java.time.Duration.ofNanos(System.nanoTime() - started)).as(number)
                    .isLessThan(java.time.Duration.ofMillis(200));
        }
    }

    @Test
    void aNumberWithManyDigitsIsRefusedBeforeItIsParsed() {
        String digits = "1" + "0".repeat(200_000);
        long started = System.nanoTime();
        assertThatThrownBy(() -> TaskSubmissionParser.parse("{\"cmd\":\"true\",\"retries\":" + digits + "}"))
                .isInstanceOfSatisfying(ApiProblem.class, problem -> {
                    assertThat(problem.status()).isEqualTo(400);
                    assertThat(problem.getMessage()).contains("longer than").hasSizeLessThan(200);
                });
        assertThat(java.time.Duration.ofNanos(System.nanoTime() - started)).isLessThan(java.time.Duration.ofMillis(500));
    }

    @Test
    void aBodyNestedThousandsOfLevelsDeepIsA400() {
        for (String body : java.util.List.of("[".repeat(100_000), "{\"cmd\":\"x\",\"env\":" + "[".repeat(50_000),
                "{\"a\":".repeat(20_000) + "1" + "}".repeat(20_000))) {
            assertThatThrownBy(() -> TaskSubmissionParser.parse(body))
                    .isInstanceOfSatisfying(ApiProblem.class, problem -> {
                        assertThat(problem.status()).isEqualTo(400);
                        assertThat(problem.getMessage()).contains("nested deeper than");
                    });
        }
        // Brackets inside strings are text, not nesting.
        assertThat(TaskSubmissionParser.parse("{\"cmd\":\"echo '" + "[{".repeat(1000) + "'\"}").cmd()).startsWith("echo");
    }

    @Test
    void errorDetailsEchoOnlyAShortPrefixOfTheInput() {
        String longName = "f" + "x".repeat(100_000);
        assertThatThrownBy(() -> TaskSubmissionParser.parse("{\"cmd\":\"true\",\"" + longName + "\":1}"))
                .isInstanceOfSatisfying(ApiProblem.class, problem ->
                        assertThat(problem.getMessage()).hasSizeLessThan(300).contains("unknown field 'fxxx"));
        assertThatThrownBy(() -> TaskSubmissionParser.parse("{\"cmd\":\"true\",\"env\":{\"" + "A".repeat(100_000) + "\":\"1\"}}"))
                .isInstanceOfSatisfying(ApiProblem.class, problem ->
                        assertThat(problem.getMessage()).hasSizeLessThan(300));
        assertThatThrownBy(() -> TaskSubmissionParser.parse("{\"cmd\":\"true\",\"cwd\":\"" + "a\\n".repeat(5000) + "\"}"))
                .isInstanceOfSatisfying(ApiProblem.class, problem ->
                        assertThat(problem.getMessage()).hasSizeLessThan(300).doesNotContain("\n"));
    }
}
