package io.taskgrid.agent;

import io.taskgrid.proto.Protocol;
import io.taskgrid.proto.WorkerLimits;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The agent's command line. Parsing is strict: an unknown flag or a malformed value is an error, not a default, so a
 * typo in a service unit fails at once instead of running with settings nobody chose. The flags are declared once, in
 * {@link CommandLineFlags}; picocli derives the parsing, {@code --flag=value} and the usage text from that.
 *
 * <p>{@code workerId} is null when no {@code --id} was given: the id is then the state directory's (see
 * {@link StateDirectory#workerId}), known only once that directory is locked; {@link #withWorkerId} fills it in.
 */
public record AgentOptions(String workerId, List<HostPortValue> masters, int slots, Duration reconnectDelay,
                           Duration maxReconnectDelay, Duration shutdownGrace, Duration killGrace, Path stateDir,
                           List<Pattern> allow, List<String> allowEnv, String joinToken, Path tokenFile, Path tlsCa,
                           Path tlsCert, Path tlsKey, String runAs, boolean plaintextAllowed,
                           Map<String, String> labels, int prefetch) {

    /** How many addresses --master may list. */
    static final int MAX_MASTERS = 16;

    public AgentOptions {
        masters = List.copyOf(masters);
        if (masters.isEmpty()) {
            throw new IllegalArgumentException("no master address");
        }
        allow = List.copyOf(allow);
        allowEnv = List.copyOf(allowEnv);
        labels = Map.copyOf(labels);
    }

    /** The host of the first master address (the only one, unless --master lists several). */
    public String masterHost() {
        return masters.get(0).host();
    }

    /** The port of the first master address. */
    public int masterPort() {
        return masters.get(0).port();
    }

    /** TLS is on when any TLS flag is given. */
    public boolean tls() {
        return tlsCa != null || tlsCert != null;
    }

    /** These options, running under {@code id}. */
    public AgentOptions withWorkerId(String id) {
        return new AgentOptions(id, masters, slots, reconnectDelay, maxReconnectDelay, shutdownGrace,
                killGrace, stateDir, allow, allowEnv, joinToken, tokenFile, tlsCa, tlsCert, tlsKey, runAs,
                plaintextAllowed, labels, prefetch);
    }

    /** Never prints the join token. */
    @Override
    public String toString() {
        return "AgentOptions[" + (workerId == null ? "(the state directory's id)" : workerId) + " -> "
                + String.join(",", masters.stream().map(HostPortValue::authority).toList()) + ", slots=" + slots
                + ", prefetch=" + prefetch + ", token=" + (joinToken == null ? "none" : "set") + "]";
    }

    /** Whether this agent may run {@code cmd}: always with no --allow, else when some pattern matches all of it. */
    public boolean allows(String cmd) {
        return allow.isEmpty() || allow.stream().anyMatch(p -> p.matcher(cmd).matches());
    }

    /**
     * Which environment variables commands get: any without --allow; with it, a task may set only the --allow-env
     * names, and of the agent's own environment only those and a fixed base pass (see {@link TaskEnvironment}).
     */
    TaskEnvironment.Policy environmentPolicy() {
        return allow.isEmpty() ? TaskEnvironment.Policy.ANY : TaskEnvironment.Policy.allowing(allowEnv);
    }

    /** Thrown for bad command lines; the message says what is wrong. */
    public static class UsageException extends Exception {
        public UsageException(String message) {
            super(message);
        }
    }

    /** Thrown for --help. */
    public static class HelpRequested extends Exception {
        public HelpRequested() {
            super("help");
        }
    }

    /** The usage text, as {@code --help} prints it. */
    public static String usage() {
        return commandLine(new CommandLineFlags()).getUsageMessage(CommandLine.Help.Ansi.OFF);
    }

    /** Every flag's names, for checking documentation against the declaration. */
    static List<String> flagNames() {
        List<String> names = new ArrayList<>();
        commandLine(new CommandLineFlags()).getCommandSpec().options().forEach(o -> names.addAll(List.of(o.names())));
        return names;
    }

    public static AgentOptions parse(String... args) throws UsageException, HelpRequested {
        CommandLineFlags flags = new CommandLineFlags();
        CommandLine commandLine = commandLine(flags);
        try {
            commandLine.parseArgs(args);
        } catch (CommandLine.ParameterException e) {
            throw new UsageException(e.getMessage());
        }
        if (commandLine.isUsageHelpRequested()) {
            throw new HelpRequested();
        }
        return flags.toOptions(commandLine.getParseResult().hasMatchedOption("--max-reconnect-delay"));
    }

    private static CommandLine commandLine(CommandLineFlags flags) {
        CommandLine commandLine = new CommandLine(flags)
                // "@file" expands into arguments by default in picocli: not a feature anyone asked of this agent.
                .setExpandAtFiles(false)
                .setUsageHelpWidth(110);
        commandLine.getCommandSpec().usageMessage().footer(footer());
        return commandLine;
    }

    /** The footer of the usage, with the exit codes taken from {@link ExitCode} so that the two cannot differ. */
    private static String[] footer() {
        List<String> lines = new ArrayList<>(List.of("",
                "DUR is a number with an optional unit: 500ms, 5s, 2m (a bare number means seconds).",
                "Values may also be given as --flag=value.", "", "Exit codes:"));
        for (ExitCode code : ExitCode.values()) {
            lines.add(String.format("  %d  %s", code.value(), code.meaning()));
        }
        // picocli formats each line: a percent sign in a meaning must not be read as a format.
        return lines.stream().map(line -> line.replace("%", "%%")).toArray(String[]::new);
    }

    /**
     * The state directory of an agent given neither --id nor --state-dir. One fixed directory, so that a restarted
     * agent finds its id and its undelivered results again; with --id, each id keeps a directory of its own, as before.
     */
    static final String DEFAULT_STATE_DIR = "default";

    /** The declaration of every flag: names, value labels, defaults and help text, in the order of the usage. */
    @Command(name = "java -jar worker-agent.jar", sortOptions = false,
            description = "Connects to a Taskgrid master and runs the shell commands it assigns.%n")
    static final class CommandLineFlags {

        @Option(names = "--id", paramLabel = "ID", converter = WorkerId.class,
                description = "worker id, unique in the pool: letters, digits, . _ - (at most "
                        + WorkerLimits.MAX_WORKER_ID_LENGTH + ") (default: the one kept in the state directory, "
                        + "chosen at its first start: the host name plus a random suffix)")
        String id;

        @Option(names = "--master", paramLabel = "HOST:PORT[,HOST:PORT...]", defaultValue = "localhost:50051",
                converter = HostPortList.class,
                description = "the master's gRPC address; or the addresses of several masters (an active/standby "
                        + "pair), separated by commas, at most " + MAX_MASTERS + ": the agent connects to one at a "
                        + "time and stays with the one that takes it; when that one cannot be reached or goes away, it "
                        + "fails over to the next in the list, round robin (default: ${DEFAULT-VALUE})")
        MasterList masters;

        @Option(names = "--slots", paramLabel = "N", defaultValue = "1", converter = Slots.class,
                description = "how many tasks to run at once, 1 to " + WorkerLimits.MAX_SLOTS
                        + " (default: ${DEFAULT-VALUE})")
        int slots;

        @Option(names = "--prefetch", paramLabel = "N", converter = NonNegative.class,
                description = "how many assignments to hold beyond the free slots, each started the moment a slot "
                        + "frees without a round trip to the master; 0 to " + Protocol.MAX_PREFETCH_PER_SLOT
                        + " times --slots, at most " + Protocol.MAX_PREFETCH + " (default: one per slot; 0 turns it "
                        + "off). The master asks for a held one back, unstarted, when another worker falls idle")
        Integer prefetch;

        @Option(names = "--label", paramLabel = "KEY=VALUE", converter = LabelArgument.class,
                description = "a label this worker offers; tasks that require labels run only where all match. "
                        + "Repeatable, at most " + WorkerLimits.MAX_LABELS + "; key and value 1 to "
                        + WorkerLimits.MAX_LABEL_LENGTH + " of letters, digits, . _ - (starting with a letter or "
                        + "digit)")
        List<Label> labels = new ArrayList<>();

        @Option(names = "--reconnect-delay", paramLabel = "DUR", defaultValue = "5s", converter = PositiveDuration.class,
                description = "first wait before reconnecting to a lost master; doubles with jitter up to "
                        + "--max-reconnect-delay (default: ${DEFAULT-VALUE})")
        Duration reconnectDelay;

        @Option(names = "--max-reconnect-delay", paramLabel = "DUR", defaultValue = "60s",
                converter = PositiveDuration.class,
                description = "longest wait between reconnect attempts (default: ${DEFAULT-VALUE})")
        Duration maxReconnectDelay;

        @Option(names = "--shutdown-grace", paramLabel = "DUR", defaultValue = "30s", converter = AnyDuration.class,
                description = "on SIGTERM/SIGINT, how long running tasks may take to finish before they are killed "
                        + "(default: ${DEFAULT-VALUE})")
        Duration shutdownGrace;

        @Option(names = "--kill-grace", paramLabel = "DUR", defaultValue = "5s", converter = AnyDuration.class,
                description = "between TERM and KILL when a process tree is stopped (default: ${DEFAULT-VALUE})")
        Duration killGrace;

        @Option(names = "--allow", paramLabel = "REGEX", converter = WholeCommandPattern.class,
                description = "run only commands that this regular expression matches as a whole; repeat for several; "
                        + "others end FAILED with a reason (default: any)")
        List<Pattern> allow = new ArrayList<>();

        @Option(names = "--allow-env", paramLabel = "NAME", split = ",", converter = VariableName.class,
                description = "with --allow: an environment variable a task may set (repeatable, or NAME,NAME...). "
                        + "Tasks setting any other end FAILED with a reason, and commands get only these and PATH, HOME, "
                        + "USER, LOGNAME, LANG, LANGUAGE, LC_*, TZ, TMPDIR, TERM of the agent's own (default: none)")
        List<String> allowEnv = new ArrayList<>();

        @Option(names = "--token-file", paramLabel = "FILE", converter = ReadableFile.class,
                description = "file whose first line is the join token the master gave out (or set "
                        + "TASKGRID_JOIN_TOKEN; --token TOKEN works too, but any user of this machine can read it "
                        + "from the process list)")
        Path tokenFile;

        @Option(names = "--token", paramLabel = "TOKEN", description = "the join token itself (see --token-file)")
        String token;

        @Option(names = "--run-as", paramLabel = "USER", converter = NotBlank.class,
                description = "run every command as this unprivileged user (needs the agent to run as root, and "
                        + "setpriv): commands then cannot read the agent's token, state directory or environment")
        String runAs;

        @Option(names = "--tls-ca", paramLabel = "FILE", converter = ReadableFile.class,
                description = "connect with TLS, trusting the CA certificates in this PEM file")
        Path tlsCa;

        @Option(names = "--tls-cert", paramLabel = "FILE", converter = ReadableFile.class,
                description = "with --tls-key: this agent's client certificate chain (PEM), for a master that requires "
                        + "one (mutual TLS)")
        Path tlsCert;

        @Option(names = "--tls-key", paramLabel = "FILE", converter = ReadableFile.class,
                description = "the client certificate's private key (PKCS#8 PEM)")
        Path tlsKey;

        @Option(names = "--plaintext", description = "connect without TLS to a master on another machine (a network "
                + "you trust); without TLS the agent otherwise sends its join token only to this machine")
        boolean plaintext;

        @Option(names = "--state-dir", paramLabel = "DIR", converter = NotBlankPath.class,
                description = "where results wait until the master has them, so that neither a master outage nor an "
                        + "agent restart loses one; it keeps the worker id too, and only one agent may use it at a time "
                        + "(default: ~/.taskgrid-agent/ID with --id, else ~/.taskgrid-agent/" + DEFAULT_STATE_DIR + ")")
        Path stateDir;

        @Option(names = {"-h", "--help"}, usageHelp = true, description = "print this help and exit")
        boolean help;

        AgentOptions toOptions(boolean maxReconnectGiven) throws UsageException {
            Duration maxReconnect = maxReconnectDelay;
            if (maxReconnect.compareTo(reconnectDelay) < 0) {
                if (maxReconnectGiven) {
                    throw new UsageException("--max-reconnect-delay must not be shorter than --reconnect-delay");
                }
                maxReconnect = reconnectDelay;
            }
            String joinToken = token == null ? null : token.trim();
            if (tokenFile != null) {
                try {
                    List<String> lines = Files.readAllLines(tokenFile);
                    joinToken = lines.isEmpty() ? "" : lines.get(0).trim();
                } catch (IOException e) {
                    throw new UsageException("--token-file " + tokenFile + " cannot be read: " + e.getMessage());
                }
            }
            if (joinToken == null) {
                String fromEnv = System.getenv("TASKGRID_JOIN_TOKEN");
                joinToken = fromEnv == null || fromEnv.isBlank() ? null : fromEnv.trim();
            }
            if (joinToken != null && joinToken.isEmpty()) {
                throw new UsageException("the join token is empty");
            }
            if ((tlsCert == null) != (tlsKey == null)) {
                throw new UsageException("--tls-cert and --tls-key go together");
            }
            Map<String, String> labelMap = new TreeMap<>();
            for (Label label : labels) {
                if (labelMap.put(label.key(), label.value()) != null) {
                    throw new UsageException("--label " + label.key() + " is given twice");
                }
            }
            if (labelMap.size() > WorkerLimits.MAX_LABELS) {
                throw new UsageException("at most " + WorkerLimits.MAX_LABELS + " --label flags are allowed");
            }
            if (!allowEnv.isEmpty() && allow.isEmpty()) {
                throw new UsageException("--allow-env applies only with --allow: without it a task runs any command, "
                        + "and sets any variable");
            }
            int held = prefetch == null ? slots : prefetch;
            if (!Protocol.isPrefetch(held, slots)) {
                throw new UsageException("--prefetch " + held + " is out of range for " + slots + " slot(s): 0 to "
                        + Math.min(Protocol.MAX_PREFETCH, slots * Protocol.MAX_PREFETCH_PER_SLOT));
            }
            Path state = stateDir != null ? stateDir
                    : Path.of(System.getProperty("user.home"), ".taskgrid-agent", id != null ? id : DEFAULT_STATE_DIR);
            return new AgentOptions(id, masters.addresses(), slots, reconnectDelay, maxReconnect,
                    shutdownGrace, killGrace, state, allow, allowEnv, joinToken, tokenFile, tlsCa, tlsCert, tlsKey,
                    runAs, plaintext, labelMap, held);
        }
    }

    /** One master address; {@link #toString} is {@link #authority}. */
    public record HostPortValue(String host, int port) {

        /** {@code host:port}, an IPv6 address in brackets. */
        public String authority() {
            return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
        }

        @Override
        public String toString() {
            return authority();
        }
    }

    /** What --master gives: a single value to picocli, which would take a List for a repeatable flag. */
    record MasterList(List<HostPortValue> addresses) {
    }

    record Label(String key, String value) {
    }

    static final class LabelArgument implements ITypeConverter<Label> {
        @Override
        public Label convert(String value) {
            int equals = value.indexOf('=');
            if (equals < 0) {
                throw new TypeConversionException("'" + value + "' must be KEY=VALUE");
            }
            String key = value.substring(0, equals);
            String labelValue = value.substring(equals + 1);
            if (!WorkerLimits.isLabelWord(key) || !WorkerLimits.isLabelWord(labelValue)) {
                throw new TypeConversionException("'" + value + "': key and value must each be 1 to "
                        + WorkerLimits.MAX_LABEL_LENGTH + " of A-Z a-z 0-9 . _ -, starting with a letter or digit");
            }
            return new Label(key, labelValue);
        }
    }

    static final class WorkerId implements ITypeConverter<String> {
        @Override
        public String convert(String value) {
            if (!WorkerLimits.isWorkerId(value)) {
                throw new TypeConversionException("'" + value + "' must be 1 to " + WorkerLimits.MAX_WORKER_ID_LENGTH
                        + " of A-Z a-z 0-9 . _ -, and not . or ..");
            }
            return value;
        }
    }

    static final class HostPort implements ITypeConverter<HostPortValue> {
        @Override
        public HostPortValue convert(String value) {
            int colon = value.lastIndexOf(':');
            if (colon <= 0 || colon == value.length() - 1) {
                throw new TypeConversionException("'" + value + "' must be HOST:PORT");
            }
            String host = value.substring(0, colon);
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
            }
            if (host.isEmpty()) {
                throw new TypeConversionException("'" + value + "' must be HOST:PORT");
            }
            return new HostPortValue(host, intIn(value.substring(colon + 1), 1, 65535));
        }
    }

    /**
     * One HOST:PORT, or several separated by commas (each as {@link HostPort} reads it), in the order given: no more
     * than {@link #MAX_MASTERS}, and none twice.
     */
    static final class HostPortList implements ITypeConverter<MasterList> {
        @Override
        public MasterList convert(String value) {
            String[] entries = value.split(",", -1);
            if (entries.length > MAX_MASTERS) {
                throw new TypeConversionException("'" + value + "' lists " + entries.length + " addresses; at most "
                        + MAX_MASTERS + " are allowed");
            }
            List<HostPortValue> addresses = new ArrayList<>();
            Map<String, HostPortValue> seen = new TreeMap<>();
            for (String entry : entries) {
                String trimmed = entry.strip();
                if (trimmed.isEmpty()) {
                    throw new TypeConversionException("'" + value + "' has an empty entry: give HOST:PORT, or "
                            + "several separated by commas");
                }
                HostPortValue address = new HostPort().convert(trimmed);
                HostPortValue before = seen.put(sameAddress(address), address);
                if (before != null) {
                    throw new TypeConversionException("'" + value + "' lists " + before.authority()
                            + (before.equals(address) ? "" : " (as " + address.authority() + ")")
                            + " twice: each master once");
                }
                addresses.add(address);
            }
            return new MasterList(addresses);
        }

        /** What two spellings of one address have in common: host names ignore case, IPv6 has many spellings. */
        private static String sameAddress(HostPortValue address) {
            String host = address.host().toLowerCase(Locale.ROOT);
            if (host.indexOf(':') >= 0) {
                try {
                    // An IPv6 literal: parsed, never looked up.
                    host = InetAddress.getByName("[" + host + "]").getHostAddress();
                } catch (UnknownHostException e) {
                    // not a literal after all: compared as written
                }
            }
            return host + ":" + address.port();
        }
    }

    static final class Slots implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            return intIn(value, 1, WorkerLimits.MAX_SLOTS);
        }
    }

    static final class NonNegative implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            return intIn(value, 0, Integer.MAX_VALUE);
        }
    }

    static final class PositiveDuration implements ITypeConverter<Duration> {
        @Override
        public Duration convert(String value) {
            Duration d = duration(value);
            if (d.isZero()) {
                throw new TypeConversionException("must be longer than 0");
            }
            return d;
        }
    }

    static final class AnyDuration implements ITypeConverter<Duration> {
        @Override
        public Duration convert(String value) {
            return duration(value);
        }
    }

    static final class WholeCommandPattern implements ITypeConverter<Pattern> {
        @Override
        public Pattern convert(String value) {
            try {
                return Pattern.compile(value, Pattern.DOTALL);
            } catch (PatternSyntaxException e) {
                throw new TypeConversionException("'" + value + "' is not a regular expression: " + e.getDescription());
            }
        }
    }

    static final class VariableName implements ITypeConverter<String> {
        @Override
        public String convert(String value) {
            if (!value.matches("[A-Za-z_][A-Za-z0-9_]*")) {
                throw new TypeConversionException("'" + value + "' is not the name of an environment variable "
                        + "(letters, digits and _, not starting with a digit)");
            }
            return value;
        }
    }

    static final class ReadableFile implements ITypeConverter<Path> {
        @Override
        public Path convert(String value) {
            Path file = Path.of(value);
            if (!Files.isReadable(file) || Files.isDirectory(file)) {
                throw new TypeConversionException(value + " is not a readable file");
            }
            return file;
        }
    }

    static final class NotBlank implements ITypeConverter<String> {
        @Override
        public String convert(String value) {
            if (value.isBlank()) {
                throw new TypeConversionException("needs a value that is not blank");
            }
            return value;
        }
    }

    static final class NotBlankPath implements ITypeConverter<Path> {
        @Override
        public Path convert(String value) {
            return Path.of(new NotBlank().convert(value));
        }
    }

    private static final Pattern DURATION = Pattern.compile("(\\d{1,9})(ms|s|m|h)?");

    static Duration duration(String value) {
        Matcher m = DURATION.matcher(value.trim());
        if (!m.matches()) {
            throw new TypeConversionException("'" + value + "' must be a duration such as 500ms, 5s or 2m");
        }
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2) == null ? "s" : m.group(2)) {
            case "ms" -> Duration.ofMillis(n);
            case "m" -> Duration.ofMinutes(n);
            case "h" -> Duration.ofHours(n);
            default -> Duration.ofSeconds(n);
        };
    }

    private static int intIn(String value, int min, int max) {
        try {
            int n = Integer.parseInt(value);
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new TypeConversionException("'" + value + "' must be a whole number from " + min + " to " + max);
    }
}
