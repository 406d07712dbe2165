package io.taskgrid.master.security;

import io.taskgrid.master.config.TaskgridConfig;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Optional;
import java.util.Set;
import java.util.logging.Logger;

/**
 * Who may call the master. With authentication on (the default) and no tokens file yet, the first start makes an
 * operator API token and an agent join token, keeps only their hashes in the tokens file, leaves the tokens themselves
 * in an owner-only file beside it for the operator (and the local cluster) to pick up, and prints them once.
 */
@ApplicationScoped
public class Credentials {

    private static final Logger LOG = Logger.getLogger(Credentials.class.getName());
    private static final SecureRandom RANDOM = new SecureRandom();
    public static final String INITIAL_FILE = "taskgrid-initial-credentials.txt";

    private boolean enabled;
    private TokenFile tokens;
    private ApiTokens apiTokens;
    private String listenHost;
    private int httpPort;
    private int grpcPort;
    private boolean printTokens = true;

    @Inject
    public Credentials(TaskgridConfig config, ApiTokens apiTokens) {
        this(config.authEnabled(), config.tokensFile(), config.listenHost(), config.httpPort(), config.grpcPort(),
                apiTokens);
        this.printTokens = config.credentialsPrinted();
    }

    Credentials(boolean enabled, String tokensFile, String listenHost, int httpPort, int grpcPort, ApiTokens apiTokens) {
        this.enabled = enabled;
        this.tokens = new TokenFile(Path.of(tokensFile));
        this.apiTokens = apiTokens;
        this.listenHost = listenHost;
        this.httpPort = httpPort;
        this.grpcPort = grpcPort;
    }

    /** For the CDI proxy only. */
    protected Credentials() {
    }

    public boolean enabled() {
        return enabled;
    }

    /**
     * The caller an API token names: one of the tokens file, else one made through the API (in the database).
     *
     * @throws ApiTokens.Unavailable when the token could be one of the database's and the database cannot be asked
     */
    public Optional<TokenFile.Caller> apiCaller(String token) {
        if (token == null) {
            return Optional.empty();
        }
        // Hashed once per request, for both: the file and the database keep tokens by the same SHA-256.
        String hash = TokenFile.sha256(token);
        Optional<TokenFile.Caller> fromFile = tokens.apiCallerByHash(hash);
        return fromFile.isPresent() || apiTokens == null ? fromFile : apiTokens.caller(token, hash);
    }

    public Optional<String> joinTokenName(String token) {
        return tokens.joinTokenName(token);
    }

    /** Whether the tokens file has an API token of this name (a name made through the API must not be one of them). */
    public boolean nameInTokensFile(String name) {
        return tokens.hasApiName(name);
    }

    /** Whether the first start prints the tokens it makes, or only where it wrote them. */
    Credentials printingTokens(boolean print) {
        this.printTokens = print;
        return this;
    }

    /** Called once at start, before any port opens. */
    public void initialize() {
        if (!enabled) {
            LOG.warning("TASKGRID SECURITY WARNING: authentication is off (taskgrid.auth.enabled=false). This is for "
                    + "development only: the master accepts calls from this machine only, and anyone on it can run "
                    + "commands on every agent.");
            return;
        }
        if (Files.exists(tokens.path())) {
            checkTokensFile(tokens.path());
            return;
        }
        String operator = "tgo_" + randomToken();
        String join = "tgj_" + randomToken();
        String host = listenHost.equals("*") || listenHost.equals("0.0.0.0") ? "localhost" : listenHost;
        try {
            Files.createDirectories(tokens.path().toAbsolutePath().getParent());
            writeOwnerOnly(tokens.path(), String.join("\n",
                    "# Taskgrid credentials: SHA-256 hashes only. Re-read on every change; see docs/security.md.",
                    "api.operator = operator:sha256:" + TokenFile.sha256(operator),
                    "join.initial = sha256:" + TokenFile.sha256(join), ""));
            writeOwnerOnly(tokens.path().resolveSibling(INITIAL_FILE), String.join("\n",
                    "# Made at the master's first start. Store these elsewhere, then delete this file.",
                    "operator-token=" + operator, "join-token=" + join, ""));
        } catch (FileAlreadyExistsException raced) {
            return;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + tokens.path() + ": " + e.getMessage(), e);
        }
        if (!printTokens) {
            // A service's log goes where many may read it (the journal, a log shipper): the file is its owner's alone.
            LOG.warning("Taskgrid first start: an operator API token and an agent join token were made; they are in "
                    + tokens.path().resolveSibling(INITIAL_FILE) + " only (taskgrid.credentials.print=false). Store "
                    + "them elsewhere, then delete that file.");
            return;
        }
        // Printed this once: after this start, only hashes are anywhere the master reads.
        LOG.warning(String.join("\n",
                "",
                "==== Taskgrid first start: credentials made (also in " + tokens.path().resolveSibling(INITIAL_FILE) + ") ====",
                "Operator API token:  " + operator,
                "Agent join token:    " + join,
                "Try:    curl -H 'Authorization: Bearer " + operator + "' http://" + host + ":" + httpPort + "/workers",
                "Web:    http://" + host + ":" + httpPort + "/ui/ (sign in with the operator token)",
                "Agent:  (umask 077; echo '" + join + "' > join-token) && java -jar worker-agent.jar --token-file join-token"
                        + " --master " + host + ":" + grpcPort,
                "===="));
    }

    /**
     * A tokens file the master could not read would refuse every caller and every agent (which then give up), and
     * one others may write lets them make themselves operators: neither may start.
     */
    static void checkTokensFile(Path file) {
        if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
            throw new IllegalStateException("the tokens file " + file + " (taskgrid.auth.tokens.file) is not a file the "
                    + "master can read");
        }
        try {
            Set<PosixFilePermission> permissions = Files.getPosixFilePermissions(file);
            if (permissions.contains(PosixFilePermission.GROUP_WRITE)
                    || permissions.contains(PosixFilePermission.OTHERS_WRITE)) {
                throw new IllegalStateException("the tokens file " + file + " is " + PosixFilePermissions.toString(
                        permissions) + ": other users may change it, and so make themselves operators; make it "
                        + "writable by the master's user only (chmod 600 " + file + ")");
            }
        } catch (UnsupportedOperationException noPosix) {
            // a file system without POSIX permissions: nothing to check
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the permissions of " + file + ": " + e.getMessage(), e);
        }
    }

    private static void writeOwnerOnly(Path file, String content) throws IOException {
        try {
            Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (UnsupportedOperationException noPosix) {
            Files.createFile(file);
        }
        Files.writeString(file, content);
    }

    static String randomToken() {
        byte[] bytes = new byte[32];
        RANDOM.nextBytes(bytes);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
    }
}
