package io.taskgrid.cli;

import picocli.CommandLine.Option;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

/**
 * Where a command talks to and as whom: the master's URL and the token, from the options, then the environment
 * ({@code TASKGRID_URL}, {@code TASKGRID_TOKEN}), then the config file ({@code ~/.config/taskgrid/config}, lines
 * {@code url=}, {@code token=}, {@code ca-file=}). The token is never an option's value: command lines are visible to
 * every user of the machine ({@code ps}), so it comes from a file or the environment only. A file holding a token
 * must be readable by its owner alone, as ssh asks of its keys.
 */
final class Endpoint {

    static final String DEFAULT_URL = "http://localhost:9092";

    @Option(names = "--master", paramLabel = "URL", description = "the master's REST address (default: $TASKGRID_URL, "
            + "the config file's url, else " + DEFAULT_URL + ")")
    String master;

    @Option(names = "--token-file", paramLabel = "FILE", description = "a file holding the API token (default: "
            + "$TASKGRID_TOKEN, else the config file's token)")
    Path tokenFile;

    @Option(names = "--ca-file", paramLabel = "FILE", description = "PEM certificates to trust for an https master "
            + "(default: the config file's ca-file, else the JVM's)")
    Path caFile;

    @Option(names = "--config", paramLabel = "FILE", description = "the config file (default: "
            + "~/.config/taskgrid/config)", hidden = true)
    Path configFile;

    /** The environment, replaceable by tests. */
    Map<String, String> environment = System.getenv();

    ApiClient client() {
        Properties config = config();
        String url = first(master, environment.get("TASKGRID_URL"), config.getProperty("url"), DEFAULT_URL);
        URI base;
        try {
            base = URI.create(url.endsWith("/") ? url.substring(0, url.length() - 1) : url);
        } catch (IllegalArgumentException e) {
            throw new ApiException(-1, "not a URL: " + url);
        }
        if (base.getScheme() == null || !(base.getScheme().equals("http") || base.getScheme().equals("https"))
                || base.getHost() == null) {
            throw new ApiException(-1, "the master's URL must be http:// or https://host[:port], not " + url);
        }
        String token = null;
        if (tokenFile != null) {
            token = readSecretFile(tokenFile).trim();
        } else if (environment.get("TASKGRID_TOKEN") != null && !environment.get("TASKGRID_TOKEN").isBlank()) {
            token = environment.get("TASKGRID_TOKEN").trim();
        } else if (config.getProperty("token") != null) {
            token = config.getProperty("token").trim();
        }
        if (token != null && !token.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
            throw new ApiException(-1, "the token " + (tokenFile != null ? "in " + tokenFile : "given")
                    + " is not one line of visible ASCII characters (is it the whole file of credentials?)");
        }
        if (token != null && base.getScheme().equals("http") && !loopback(base.getHost())) {
            System.err.println("taskgrid: warning: the token goes to " + base.getHost() + " unencrypted (http://); "
                    + "use https:// for a master on another machine");
        }
        Path ca = caFile != null ? caFile : config.getProperty("ca-file") == null ? null
                : Path.of(config.getProperty("ca-file"));
        return new ApiClient(base, token, ca == null ? null : trusting(ca));
    }

    private Properties config() {
        Path file = configFile;
        if (file == null) {
            String home = environment.getOrDefault("HOME", System.getProperty("user.home"));
            String xdg = environment.get("XDG_CONFIG_HOME");
            file = (xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(home, ".config")).resolve("taskgrid/config");
        }
        Properties properties = new Properties();
        if (!Files.exists(file)) {
            if (configFile != null) {
                throw new ApiException(-1, "no config file " + file);
            }
            return properties;
        }
        try (Reader in = new java.io.StringReader(readFile(file))) {
            properties.load(in);
        } catch (IOException e) {
            throw new ApiException(-1, "cannot read " + file + ": " + e.getMessage());
        }
        if (properties.getProperty("token") != null) {
            checkPrivate(file);
        }
        return properties;
    }

    /**
     * A file that holds a token: refused when it is not this user's own, or others than its owner may read or write it
     * (a token someone else can read is theirs too; a file someone else can write sends this user's requests where
     * they choose).
     */
    static String readSecretFile(Path file) {
        checkPrivate(file);
        return readFile(file);
    }

    private static void checkPrivate(Path file) {
        try {
            Path real = file.toRealPath();
            String owner = Files.getOwner(real).getName();
            if (!owner.equals(System.getProperty("user.name"))) {
                throw new ApiException(-1, file + " belongs to " + owner + ", not to you; it holds a token");
            }
            Set<PosixFilePermission> permissions = Files.getPosixFilePermissions(real);
            for (PosixFilePermission open : new PosixFilePermission[]{PosixFilePermission.GROUP_READ,
                    PosixFilePermission.OTHERS_READ, PosixFilePermission.GROUP_WRITE, PosixFilePermission.OTHERS_WRITE}) {
                if (permissions.contains(open)) {
                    throw new ApiException(-1, file + " may be read or written by others than its owner; it holds a "
                            + "token: chmod 600 " + file);
                }
            }
        } catch (UnsupportedOperationException e) {
            // not a POSIX file system: nothing to check
        } catch (IOException e) {
            throw new ApiException(-1, "cannot read " + file + ": " + e);
        }
    }

    private static String readFile(Path file) {
        try {
            if (Files.size(file) > 64 * 1024) {
                throw new ApiException(-1, file + " is larger than a token or config file can be (64 KiB)");
            }
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new ApiException(-1, "cannot read " + file + ": " + e);
        }
    }

    private static SSLContext trusting(Path pem) {
        try (InputStream in = Files.newInputStream(pem)) {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            int i = 0;
            for (Certificate certificate : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                store.setCertificateEntry("ca-" + i++, certificate);
            }
            if (i == 0) {
                throw new ApiException(-1, pem + " holds no PEM certificate");
            }
            TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            trust.init(store);
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, trust.getTrustManagers(), null);
            return context;
        } catch (IOException | GeneralSecurityException e) {
            throw new ApiException(-1, "cannot use " + pem + " as CA certificates: " + e.getMessage());
        }
    }

    private static boolean loopback(String host) {
        return host.equals("localhost") || host.equals("127.0.0.1") || host.equals("[::1]") || host.equals("::1");
    }

    private static String first(String... values) {
        for (String value : values) {
            if (value != null && !value.isBlank()) {
                return value.trim();
            }
        }
        return null;
    }
}
