package io.taskgrid.agent;

import io.taskgrid.proto.WorkerLimits;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class AgentOptionsTest {

    /** The agent's page of the documentation: its flags, exit codes and how it runs tasks. */
    private static final Path AGENT_PAGE = Path.of("../docs/agent.md");

    @Test
    void noArgumentsGiveWorkingDefaults() throws Exception {
        AgentOptions options = AgentOptions.parse();
        assertThat(options.masterHost()).isEqualTo("localhost");
        assertThat(options.masterPort()).isEqualTo(50051);
        assertThat(options.slots()).isEqualTo(1);
        assertThat(options.reconnectDelay()).isEqualTo(Duration.ofSeconds(5));
    }

    /**
     * One prefetched assignment per slot unless told otherwise (the master asks a held one back when another worker
     * falls idle); the protocol's bounds are checked at start.
     */
    @Test
    void prefetchDefaultsToOnePerSlotAndIsHeldToTheProtocolsBounds() throws Exception {
        assertThat(AgentOptions.parse().prefetch()).isEqualTo(1);
        assertThat(AgentOptions.parse("--slots", "8").prefetch()).isEqualTo(8);
        assertThat(AgentOptions.parse("--slots", "8", "--prefetch", "0").prefetch()).isZero();
        assertThat(AgentOptions.parse("--slots", "2", "--prefetch", "8").prefetch()).isEqualTo(8);
        assertThat(AgentOptions.parse("--slots", "200", "--prefetch", "256").withWorkerId("w").prefetch())
                .isEqualTo(256);
        assertUsage("--prefetch 9 is out of range for 2 slot(s): 0 to 8", "--slots", "2", "--prefetch", "9");
        assertUsage("0 to 256", "--slots", "100", "--prefetch", "257");
        assertUsage("--prefetch", "--prefetch", "-1");
        assertUsage("--prefetch", "--prefetch", "many");
    }

    /**
     * Without --id the id is the state directory's, so that directory must be the same at every start: one fixed
     * directory, not one per (new) id. With --id, each id keeps its own, as before.
     */
    @Test
    void withoutIdTheStateDirectoryIsOneFixedDirectoryAndWithIdThatIdsOwn() throws Exception {
        Path agents = Path.of(System.getProperty("user.home"), ".taskgrid-agent");
        AgentOptions withoutId = AgentOptions.parse();
        assertThat(withoutId.workerId()).as("known once the directory is locked").isNull();
        assertThat(withoutId.stateDir()).isEqualTo(agents.resolve("default"));
        assertThat(AgentOptions.parse().stateDir()).isEqualTo(withoutId.stateDir());
        assertThat(AgentOptions.parse("--id", "w1").stateDir()).isEqualTo(agents.resolve("w1"));
        assertThat(AgentOptions.parse("--state-dir", "/srv/agent").stateDir()).isEqualTo(Path.of("/srv/agent"));
        assertThat(AgentOptions.parse("--id", "w1", "--state-dir", "/srv/agent").stateDir())
                .isEqualTo(Path.of("/srv/agent"));
        AgentOptions resolved = AgentOptions.parse("--slots", "3", "--label", "os=linux").withWorkerId("w9");
        assertThat(resolved.workerId()).isEqualTo("w9");
        assertThat(resolved).usingRecursiveComparison().ignoringFields("workerId")
                .isEqualTo(AgentOptions.parse("--slots", "3", "--label", "os=linux"));
    }

    @Test
    void everyFlagIsRead() throws Exception {
        AgentOptions options = AgentOptions.parse("--id", "w1", "--master", "master.example:6000", "--slots", "4",
                "--reconnect-delay", "500ms", "--max-reconnect-delay", "2m", "--shutdown-grace", "0",
                "--kill-grace", "1s");
        assertThat(options.workerId()).isEqualTo("w1");
        assertThat(options.masterHost()).isEqualTo("master.example");
        assertThat(options.masterPort()).isEqualTo(6000);
        assertThat(options.slots()).isEqualTo(4);
        assertThat(options.reconnectDelay()).isEqualTo(Duration.ofMillis(500));
        assertThat(options.maxReconnectDelay()).isEqualTo(Duration.ofMinutes(2));
        assertThat(options.shutdownGrace()).isZero();
        assertThat(options.killGrace()).isEqualTo(Duration.ofSeconds(1));
    }

    @Test
    void flagsMayUseEqualsSignsAndIpv6Brackets() throws Exception {
        AgentOptions options = AgentOptions.parse("--id=w2", "--master=[::1]:50051", "--reconnect-delay=7");
        assertThat(options.workerId()).isEqualTo("w2");
        assertThat(options.masterHost()).isEqualTo("::1");
        assertThat(options.reconnectDelay()).isEqualTo(Duration.ofSeconds(7));
    }

    /** Several masters (an active/standby pair), tried in the order given; the first is masterHost/masterPort. */
    @Test
    void masterTakesACommaSeparatedListInOrderWithIpv6InBrackets() throws Exception {
        AgentOptions pair = AgentOptions.parse("--master", "a.example:50051,b.example:50052");
        assertThat(pair.masters()).containsExactly(new AgentOptions.HostPortValue("a.example", 50051),
                new AgentOptions.HostPortValue("b.example", 50052));
        assertThat(pair.masterHost()).isEqualTo("a.example");
        assertThat(pair.masterPort()).isEqualTo(50051);
        assertThat(pair.toString()).contains("a.example:50051,b.example:50052");
        assertThat(pair.withWorkerId("w").masters()).isEqualTo(pair.masters());

        AgentOptions v6 = AgentOptions.parse("--master=[::1]:50051, [fd00::2]:50052,10.0.0.3:50053");
        assertThat(v6.masters()).extracting(AgentOptions.HostPortValue::host)
                .containsExactly("::1", "fd00::2", "10.0.0.3");
        assertThat(v6.masters()).extracting(AgentOptions.HostPortValue::authority)
                .containsExactly("[::1]:50051", "[fd00::2]:50052", "10.0.0.3:50053");

        assertThat(AgentOptions.parse().masters()).as("the single default, as before")
                .containsExactly(new AgentOptions.HostPortValue("localhost", 50051));
        assertThat(AgentOptions.parse("--master", "a.example:1,a.example:2").masters())
                .as("two masters on one host").hasSize(2);
        assertThat(AgentOptions.usage()).contains("--master=HOST:PORT[,HOST:PORT...]").contains("fails over");
    }

    @Test
    void aMasterListWithADuplicateTooManyOrABadEntryIsRefusedSayingWhich() throws Exception {
        assertUsage("'a:1,b:2,a:1' lists a:1 twice", "--master", "a:1,b:2,a:1");
        assertUsage("lists Host.Example:5 (as host.example:5) twice", "--master", "Host.Example:5,host.example:5");
        assertUsage("lists [::1]:5 (as [0:0:0:0:0:0:0:1]:5) twice", "--master", "[::1]:5,[0:0:0:0:0:0:0:1]:5");

        String sixteen = String.join(",", java.util.stream.IntStream.rangeClosed(1, AgentOptions.MAX_MASTERS)
                .mapToObj(i -> "m" + i + ":50051").toList());
        assertThat(AgentOptions.parse("--master", sixteen).masters()).hasSize(16);
        assertUsage("lists 17 addresses; at most 16 are allowed", "--master", sixteen + ",m17:50051");

        assertUsage("'b' must be HOST:PORT", "--master", "a:1,b");
        assertUsage("from 1 to 65535", "--master", "a:1,b:0");
        assertUsage("'[]:2' must be HOST:PORT", "--master", "a:1,[]:2");
        assertUsage("has an empty entry", "--master", "a:1,,b:2");
        assertUsage("has an empty entry", "--master", "a:1,");
        assertUsage("has an empty entry", "--master", ",a:1");
        assertUsage("--master", "--master", "a:1", "--master", "b:2");
    }

    /**
     * Without TLS and --plaintext the join token goes only to this machine: every listed master must be on it, not
     * only the first, since a failover sends the token to the next.
     */
    @Test
    void withoutTlsEveryListedMasterMustBeOnThisMachine() throws Exception {
        assertThat(WorkerAgent.tokenInClear(AgentOptions.parse("--token", "t", "--master", "127.0.0.1:1,[::1]:2")))
                .isEmpty();
        assertThat(WorkerAgent.tokenInClear(AgentOptions.parse("--token", "t", "--master", "127.0.0.1:1,192.0.2.7:2")))
                .hasValueSatisfying(why -> assertThat(why).startsWith("the master 192.0.2.7:2 is not on this machine"));
        assertThat(WorkerAgent.tokenInClear(AgentOptions.parse("--token", "t", "--master", "192.0.2.7:1,192.0.2.8:2")))
                .hasValueSatisfying(why -> assertThat(why).startsWith("the masters 192.0.2.7:1, 192.0.2.8:2 are"));
        assertThat(WorkerAgent.tokenInClear(AgentOptions.parse("--token", "t", "--plaintext", "--master",
                "127.0.0.1:1,192.0.2.7:2"))).isEmpty();
    }

    @Test
    void allowRulesMatchWholeCommandsAndAreRepeatable() throws Exception {
        AgentOptions options = AgentOptions.parse("--allow", "echo [a-z ]*", "--allow=backup\\.sh( --full)?");
        assertThat(options.allows("echo hello world")).isTrue();
        assertThat(options.allows("backup.sh --full")).isTrue();
        assertThat(options.allows("echo hi; rm -rf /")).isFalse();
        assertThat(options.allows("echo HI")).isFalse();
        assertThat(options.allows("backup.sh\nrm -rf /")).isFalse();
        assertThat(AgentOptions.parse().allows("anything at all")).isTrue();
    }

    @Test
    void allowedVariablesGoWithAllowRulesAndAreNamesRepeatableOrCommaSeparated() throws Exception {
        AgentOptions options = AgentOptions.parse("--allow", "make test", "--allow-env", "CI,BUILD_ID",
                "--allow-env=GOFLAGS");
        assertThat(options.allowEnv()).containsExactly("CI", "BUILD_ID", "GOFLAGS");
        assertThat(options.environmentPolicy().refused(java.util.Map.of("CI", "1", "BASH_ENV", "/x", "PATH", "/y")))
                .containsExactly("BASH_ENV", "PATH");
        assertThat(AgentOptions.parse("--allow", "make test").environmentPolicy().refused(java.util.Map.of("CI", "1")))
                .as("--allow alone: no variable of a task's own").containsExactly("CI");
        assertThat(AgentOptions.parse().environmentPolicy().restricted()).as("no --allow: any").isFalse();
        assertUsage("applies only with --allow", "--allow-env", "CI");
        assertUsage("is not the name of an environment variable", "--allow", "x", "--allow-env", "A-B");
        assertUsage("is not the name of an environment variable", "--allow", "x", "--allow-env", "1X");
    }

    @Test
    void theJoinTokenComesFromAFileAndNeverShowsInToString(@TempDir Path dir)
            throws Exception {
        Path file = dir.resolve("token");
        Files.writeString(file, "tgj_secret-value\n");
        AgentOptions options = AgentOptions.parse("--token-file", file.toString());
        assertThat(options.joinToken()).isEqualTo("tgj_secret-value");
        assertThat(options.toString()).doesNotContain("tgj_secret-value");
        assertThat(AgentOptions.parse("--token", "tgj_x").joinToken()).isEqualTo("tgj_x");
        assertUsage("is not a readable file", "--token-file", dir.resolve("missing").toString());
        Files.writeString(file, "\n");
        assertUsage("empty", "--token-file", file.toString());
    }

    @Test
    void runAsNamesAUserAndIsInTheUsage() throws Exception {
        assertThat(AgentOptions.parse("--run-as", "taskrunner").runAs()).isEqualTo("taskrunner");
        assertThat(AgentOptions.parse().runAs()).isNull();
        assertUsage("--run-as': needs a value that is not blank", "--run-as", " ");
        assertThat(AgentOptions.usage()).contains("--run-as=USER");
    }

    @Test
    void aTokenFileIsRememberedSoItsPermissionsCanBeChecked(@TempDir Path dir)
            throws Exception {
        Path file = Files.writeString(dir.resolve("token"), "tgj_x\n");
        assertThat(AgentOptions.parse("--token-file", file.toString()).tokenFile()).isEqualTo(file);
    }

    @Test
    void tlsFlagsNeedReadableFilesAndACertificateNeedsItsKey(@TempDir Path dir)
            throws Exception {
        Path ca = Files.writeString(dir.resolve("ca.crt"), "x");
        Path cert = Files.writeString(dir.resolve("a.crt"), "x");
        Path key = Files.writeString(dir.resolve("a.key"), "x");
        assertThat(AgentOptions.parse().tls()).isFalse();
        assertThat(AgentOptions.parse("--tls-ca", ca.toString()).tls()).isTrue();
        AgentOptions mutual = AgentOptions.parse("--tls-ca", ca.toString(), "--tls-cert", cert.toString(), "--tls-key",
                key.toString());
        assertThat(mutual.tlsKey()).isEqualTo(key);
        assertUsage("go together", "--tls-cert", cert.toString());
        assertUsage("not a readable file", "--tls-ca", dir.resolve("missing").toString());
    }

    @Test
    void aShortMaxReconnectDelayFollowsTheReconnectDelayWhenNotGiven() throws Exception {
        assertThat(AgentOptions.parse("--reconnect-delay", "90s").maxReconnectDelay()).isEqualTo(Duration.ofSeconds(90));
    }

    @ParameterizedTest
    @ValueSource(strings = {"--help", "-h"})
    void helpIsAskedFor(String flag) {
        assertThatThrownBy(() -> AgentOptions.parse("--id", "w1", flag)).isInstanceOf(AgentOptions.HelpRequested.class);
    }

    @Test
    void badCommandLinesSayWhatIsWrong() {
        assertUsage("'--bogus'", "--bogus", "1");
        assertUsage("Unknown option", "--bogus", "1");
        assertUsage("Missing required parameter for option '--id'", "--id");
        assertUsage("Unmatched argument at index 0: 'w1'", "w1");
        assertUsage("'--sl'", "--sl", "2");
        assertUsage("'@args' must be 1 to 64", "--id", "@args");
        assertUsage("must be 1 to 64", "--id", "bad id");
        assertUsage("must be 1 to 64", "--id", "x".repeat(65));
        assertUsage("must be HOST:PORT", "--master", "localhost");
        assertUsage("must be HOST:PORT", "--master", ":50051");
        assertUsage("from 1 to 65535", "--master", "localhost:99999");
        assertUsage("from 1 to 65535", "--master", "localhost:abc");
        assertUsage("from 1 to 256", "--slots", "0");
        assertUsage("from 1 to 256", "--slots", "lots");
        assertUsage("must be a duration", "--reconnect-delay", "soon");
        assertUsage("must be a duration", "--reconnect-delay", "-1s");
        assertUsage("longer than 0", "--reconnect-delay", "0");
        assertUsage("must not be shorter", "--reconnect-delay", "10s", "--max-reconnect-delay", "1s");
        assertUsage("is not a regular expression", "--allow", "echo (");
        assertUsage("must be KEY=VALUE", "--label", "linux");
        assertUsage("starting with a letter or digit", "--label", "os=");
        assertUsage("starting with a letter or digit", "--label", "=linux");
        assertUsage("starting with a letter or digit", "--label", "os=lin,ux");
        assertUsage("starting with a letter or digit", "--label", "os=" + "x".repeat(64));
        assertUsage("--label os is given twice", "--label", "os=linux", "--label", "os=mac");
    }

    @Test
    void labelsAreRepeatableAndAtMostSixteen() throws Exception {
        assertThat(AgentOptions.parse("--label", "os=linux", "--label=gpu=a100").labels())
                .isEqualTo(Map.of("os", "linux", "gpu", "a100"));
        assertThat(AgentOptions.parse().labels()).isEmpty();
        String[] many = new String[34];
        for (int i = 0; i < 17; i++) {
            many[2 * i] = "--label";
            many[2 * i + 1] = "k" + i + "=v";
        }
        assertUsage("at most 16 --label", many);
    }

    /**
     * The master refuses a registration that breaks {@link WorkerLimits}; the agent must refuse exactly those flags at
     * its start (exit 2, saying which), and take all the rest. Held at the edges and over odd characters, so that a
     * limit of the agent's own would show.
     */
    @Test
    void flagsAreCheckedByTheLimitsTheMasterChecksRegistrationsBy() throws Exception {
        String longest = "w".repeat(WorkerLimits.MAX_WORKER_ID_LENGTH);
        assertThat(accepted("--id=" + longest)).isTrue();
        assertThat(accepted("--id=" + longest + "w")).isFalse();
        assertThat(accepted("--slots=" + WorkerLimits.MAX_SLOTS)).isTrue();
        assertThat(accepted("--slots=" + (WorkerLimits.MAX_SLOTS + 1))).isFalse();
        List<String> most = new ArrayList<>();
        for (int i = 0; i < WorkerLimits.MAX_LABELS; i++) {
            most.add("--label=k" + i + "=" + "v".repeat(WorkerLimits.MAX_LABEL_LENGTH));
        }
        assertThat(accepted(most.toArray(String[]::new))).isTrue();
        most.add("--label=one=more");
        assertThat(accepted(most.toArray(String[]::new))).isFalse();
        for (String id : List.of("a", "A.b_c-9", "-x", ".", "has space", "é", "a/b", "a\nb", "a:b")) {
            assertThat(accepted("--id=" + id)).as("--id '%s'", id).isEqualTo(WorkerLimits.isWorkerId(id));
        }
        for (String word : List.of("a", "9x", "a.b_c-d", "-x", ".x", "_x", "a b", "a,b", "é", "",
                "x".repeat(WorkerLimits.MAX_LABEL_LENGTH), "x".repeat(WorkerLimits.MAX_LABEL_LENGTH + 1))) {
            assertThat(accepted("--label=k=" + word)).as("label value '%s'", word)
                    .isEqualTo(WorkerLimits.isLabelWord(word));
            assertThat(accepted("--label=" + word + "=v")).as("label key '%s'", word)
                    .isEqualTo(WorkerLimits.isLabelWord(word));
        }
        assertThat(accepted("--label=k=a=b")).as("'=' in a value").isFalse();
    }

    private static boolean accepted(String... args) throws AgentOptions.HelpRequested {
        try {
            AgentOptions.parse(args);
            return true;
        } catch (AgentOptions.UsageException e) {
            return false;
        }
    }

    @Test
    void plaintextToAnotherMachineIsAnExplicitChoice() throws Exception {
        assertThat(AgentOptions.parse().plaintextAllowed()).isFalse();
        assertThat(AgentOptions.parse("--plaintext").plaintextAllowed()).isTrue();
    }

    /** The agent's page in docs/ is what operators read: its flag table must list exactly the flags declared. */
    @Test
    void theDocumentedFlagTableListsExactlyTheDeclaredFlags() throws Exception {
        String section = Files.readString(AGENT_PAGE);
        Set<String> documented = new TreeSet<>();
        for (String line : section.split("\n")) {
            if (line.startsWith("| `-")) {
                Matcher m = Pattern.compile("`(-{1,2}[a-z-]+)").matcher(line.split("\\|")[1]);
                while (m.find()) {
                    documented.add(m.group(1));
                }
            }
        }
        Set<String> declared = new TreeSet<>(AgentOptions.flagNames());
        declared.remove("-h");
        assertThat(documented).containsExactlyInAnyOrderElementsOf(declared);
        assertThat(AgentOptions.usage()).contains(declared);
    }

    /** Each exit code a supervisor may see, with its meaning, in --help (one line each) and in docs/agent.md's table. */
    @Test
    void theUsageAndTheAgentPageListEveryExitCode() throws Exception {
        String usage = AgentOptions.usage();
        assertThat(usage.substring(usage.indexOf("Exit codes:")).lines().skip(1))
                .as("one line per code: picocli would not indent a line it wraps")
                .containsExactlyElementsOf(Arrays.stream(ExitCode.values())
                        .map(code -> "  " + code.value() + "  " + code.meaning()).toList());
        String section = Files.readString(AGENT_PAGE);
        Set<Integer> documented = new TreeSet<>();
        Matcher row = Pattern.compile("(?m)^\\| `(\\d+)` \\| .+ \\|$").matcher(section);
        while (row.find()) {
            documented.add(Integer.valueOf(row.group(1)));
        }
        assertThat(documented).containsExactlyElementsOf(Arrays.stream(ExitCode.values()).map(ExitCode::value).toList());
    }

    private static void assertUsage(String message, String... args) {
        assertThatThrownBy(() -> AgentOptions.parse(args))
                .isInstanceOf(AgentOptions.UsageException.class)
                .hasMessageContaining(message);
    }
}
