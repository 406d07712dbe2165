package io.taskgrid.agent;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.PatternSyntaxException;
import java.time.Duration;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The agent's command line. Parsing is strict: an unknown flag or a malformed value is an error, not a default, so a
 * typo in a service unit fails at once instead of running with settings nobody chose.
 */
public record AgentOptions(String workerId, String masterHost, int masterPort, int slots, Duration reconnectDelay,
                           Duration maxReconnectDelay, Duration shutdownGrace, Duration killGrace, Path stateDir,
                           List<Pattern> allow, String joinToken, Path tokenFile, Path tlsCa, Path tlsCert, Path tlsKey,
                           String runAs) {

    /** TLS is on when any TLS flag is given. */
    public boolean tls() {
        return tlsCa != null || tlsCert != null;
    }

    public AgentOptions {
        allow = List.copyOf(allow);
    }

    /** Never prints the join token. */
    @Override
    public String toString() {
        return "AgentOptions[" + workerId + " -> " + masterHost + ":" + masterPort + ", slots=" + slots
                + ", token=" + (joinToken == null ? "none" : "set") + "]";
    }

    /** Whether this agent may run {@code cmd}: always with no --allow, else when some pattern matches all of it. */
    public boolean allows(String cmd) {
        return allow.isEmpty() || allow.stream().anyMatch(p -> p.matcher(cmd).matches());
    }

    public static final String USAGE = """
            Usage: java -jar worker-agent.jar [options]

            Connects to a Taskgrid master and runs the shell commands it assigns.

            Options:
              --id ID                    worker id, unique in the pool: letters, digits, . _ - (at most 64)
                                         (default: the host name plus a random suffix)
              --master HOST:PORT         the master's gRPC address (default: localhost:50051)
              --slots N                  how many tasks to run at once, 1 to 256 (default: 1)
              --reconnect-delay DUR      first wait before reconnecting to a lost master; doubles with jitter
                                         up to --max-reconnect-delay (default: 5s)
              --max-reconnect-delay DUR  longest wait between reconnect attempts (default: 60s)
              --shutdown-grace DUR       on SIGTERM/SIGINT, how long running tasks may take to finish before
                                         they are killed (default: 30s)
              --kill-grace DUR           between TERM and KILL when a process tree is stopped (default: 5s)
              --allow REGEX              run only commands that this regular expression matches as a whole;
                                         repeat for several; others end FAILED with a reason (default: any)
              --token-file FILE          file whose first line is the join token the master gave out
                                         (or set TASKGRID_JOIN_TOKEN; --token TOKEN works too, but any
                                         user of this machine can read it from the process list)
              --run-as USER              run every command as this unprivileged user (needs the agent to
                                         run as root, and setpriv): commands then cannot read the agent's
                                         token, state directory or environment
              --tls-ca FILE              connect with TLS, trusting the CA certificates in this PEM file
              --tls-cert FILE            with --tls-key: this agent's client certificate chain (PEM), for a
                                         master that requires one (mutual TLS)
              --tls-key FILE             the client certificate's private key (PKCS#8 PEM)
              --state-dir DIR            where results wait until the master has them, so that neither a master
                                         outage nor an agent restart loses one
                                         (default: ~/.taskgrid-agent/ID)
              --help                     print this help and exit

            DUR is a number with an optional unit: 500ms, 5s, 2m (a bare number means seconds).
            Values may also be given as --flag=value.
            """;

    private static final Pattern WORKER_ID = Pattern.compile("[A-Za-z0-9._-]{1,64}");
    private static final Pattern DURATION = Pattern.compile("(\\d{1,9})(ms|s|m|h)?");

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

    public static AgentOptions defaults() {
        return new AgentOptions(defaultWorkerId(), "localhost", 50051, 1, Duration.ofSeconds(5),
                Duration.ofSeconds(60), Duration.ofSeconds(30), Duration.ofSeconds(5), null, List.of(), null, null, null,
                null, null, null);
    }

    public static AgentOptions parse(String... args) throws UsageException, HelpRequested {
        AgentOptions o = defaults();
        String id = o.workerId;
        String host = o.masterHost;
        int port = o.masterPort;
        int slots = o.slots;
        Duration reconnect = o.reconnectDelay;
        Duration maxReconnect = o.maxReconnectDelay;
        Duration shutdownGrace = o.shutdownGrace;
        Duration killGrace = o.killGrace;
        Path stateDir = null;
        List<Pattern> allow = new ArrayList<>();
        String token = null;
        Path tokenFile = null;
        String runAs = null;
        Path tlsCa = null;
        Path tlsCert = null;
        Path tlsKey = null;
        boolean maxReconnectGiven = false;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            String flag = arg;
            String value = null;
            int eq = arg.indexOf('=');
            if (arg.startsWith("--") && eq > 0) {
                flag = arg.substring(0, eq);
                value = arg.substring(eq + 1);
            }
            if (flag.equals("--help") || flag.equals("-h")) {
                throw new HelpRequested();
            }
            if (!flag.startsWith("--")) {
                throw new UsageException("unexpected argument '" + arg + "'");
            }
            if (value == null) {
                if (i + 1 >= args.length) {
                    throw new UsageException(flag + " needs a value");
                }
                value = args[++i];
            }
            switch (flag) {
                case "--id" -> {
                    if (!WORKER_ID.matcher(value).matches()) {
                        throw new UsageException("--id '" + value + "' must be 1 to 64 of A-Z a-z 0-9 . _ -");
                    }
                    id = value;
                }
                case "--master" -> {
                    int colon = value.lastIndexOf(':');
                    if (colon <= 0 || colon == value.length() - 1) {
                        throw new UsageException("--master '" + value + "' must be HOST:PORT");
                    }
                    host = value.substring(0, colon);
                    if (host.startsWith("[") && host.endsWith("]")) {
                        host = host.substring(1, host.length() - 1);
                    }
                    port = intIn(flag, value.substring(colon + 1), 1, 65535);
                }
                case "--slots" -> slots = intIn(flag, value, 1, 256);
                case "--reconnect-delay" -> reconnect = duration(flag, value, false);
                case "--max-reconnect-delay" -> {
                    maxReconnect = duration(flag, value, false);
                    maxReconnectGiven = true;
                }
                case "--shutdown-grace" -> shutdownGrace = duration(flag, value, true);
                case "--kill-grace" -> killGrace = duration(flag, value, true);
                case "--allow" -> {
                    try {
                        allow.add(Pattern.compile(value, Pattern.DOTALL));
                    } catch (PatternSyntaxException e) {
                        throw new UsageException("--allow '" + value + "' is not a regular expression: "
                                + e.getDescription());
                    }
                }
                case "--token" -> token = value.trim();
                case "--tls-ca" -> tlsCa = readableFile(flag, value);
                case "--tls-cert" -> tlsCert = readableFile(flag, value);
                case "--tls-key" -> tlsKey = readableFile(flag, value);
                case "--run-as" -> {
                    if (value.isBlank()) {
                        throw new UsageException("--run-as needs a user name");
                    }
                    runAs = value;
                }
                case "--token-file" -> {
                    try {
                        List<String> lines = java.nio.file.Files.readAllLines(Path.of(value));
                        token = lines.isEmpty() ? "" : lines.get(0).trim();
                        tokenFile = Path.of(value);
                    } catch (java.io.IOException e) {
                        throw new UsageException("--token-file " + value + " cannot be read: " + e.getMessage());
                    }
                }
                case "--state-dir" -> {
                    if (value.isBlank()) {
                        throw new UsageException("--state-dir needs a directory");
                    }
                    stateDir = Path.of(value);
                }
                default -> throw new UsageException("unknown option " + flag);
            }
        }
        if (maxReconnect.compareTo(reconnect) < 0) {
            if (maxReconnectGiven) {
                throw new UsageException("--max-reconnect-delay must not be shorter than --reconnect-delay");
            }
            maxReconnect = reconnect;
        }
        if (stateDir == null) {
            stateDir = Path.of(System.getProperty("user.home"), ".taskgrid-agent", id);
        }
        if (token == null) {
            String fromEnv = System.getenv("TASKGRID_JOIN_TOKEN");
            token = fromEnv == null || fromEnv.isBlank() ? null : fromEnv.trim();
        }
        if (token != null && token.isEmpty()) {
            throw new UsageException("the join token is empty");
        }
        if ((tlsCert == null) != (tlsKey == null)) {
            throw new UsageException("--tls-cert and --tls-key go together");
        }
        return new AgentOptions(id, host, port, slots, reconnect, maxReconnect, shutdownGrace, killGrace, stateDir,
                allow, token, tokenFile, tlsCa, tlsCert, tlsKey, runAs);
    }

    private static Path readableFile(String flag, String value) throws UsageException {
        Path file = Path.of(value);
        if (!java.nio.file.Files.isReadable(file)) {
            throw new UsageException(flag + " " + value + " is not a readable file");
        }
        return file;
    }

    private static int intIn(String flag, String value, int min, int max) throws UsageException {
        try {
            int n = Integer.parseInt(value);
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new UsageException(flag + " '" + value + "' must be a whole number from " + min + " to " + max);
    }

    static Duration duration(String flag, String value, boolean zeroAllowed) throws UsageException {
        Matcher m = DURATION.matcher(value.trim());
        if (!m.matches()) {
            throw new UsageException(flag + " '" + value + "' must be a duration such as 500ms, 5s or 2m");
        }
        long n = Long.parseLong(m.group(1));
        String unit = m.group(2) == null ? "s" : m.group(2);
        Duration d = switch (unit) {
            case "ms" -> Duration.ofMillis(n);
            case "m" -> Duration.ofMinutes(n);
            case "h" -> Duration.ofHours(n);
            default -> Duration.ofSeconds(n);
        };
        if (d.isZero() && !zeroAllowed) {
            throw new UsageException(flag + " must be longer than 0");
        }
        return d;
    }

    static String defaultWorkerId() {
        String host;
        try {
            host = java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.io.IOException e) {
            host = "worker";
        }
        host = host.replaceAll("[^A-Za-z0-9._-]", "-");
        if (host.length() > 48) {
            host = host.substring(0, 48);
        }
        return host + "-" + UUID.randomUUID().toString().substring(0, 8);
    }
}
