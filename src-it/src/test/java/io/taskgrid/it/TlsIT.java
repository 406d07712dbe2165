package io.taskgrid.it;

import io.taskgrid.it.cluster.InitialCredentials;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static io.taskgrid.it.Polling.poll;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A master with HTTPS and mutual TLS on gRPC, with certificates made by openssl at test time: a CA, the server's
 * certificate, an agent's client certificate, and a second CA nobody trusts. Its own Liberty server and ports.
 */
class TlsIT {

    private static final String SERVER = "taskgrid-tls";
    private static final int HTTPS_PORT = 29443;
    private static final int GRPC_PORT = 29051;

    private static ExtraServer server;
    private static Path certs;
    private static InitialCredentials credentials;
    private static final List<Process> agents = new ArrayList<>();

    @BeforeAll
    static void startATlsMaster() throws Exception {
        certs = Files.createDirectories(Path.of(SharedCluster.property("taskgrid.log.dir"), "tls-certs"));
        makeCertificates(certs);

        server = ExtraServer.start(SERVER, "TASKGRID_HTTP_PORT=29092",
                "TASKGRID_LISTEN_HOST=*",
                "TASKGRID_HTTPS_PORT=" + HTTPS_PORT,
                "TASKGRID_GRPC_PORT=" + GRPC_PORT,
                "TASKGRID_TLS_KEYSTORE=" + certs.resolve("server.p12"),
                "TASKGRID_TLS_KEYSTORE_PASSWORD=changeit",
                "TASKGRID_GRPC_TLS_CERT=" + certs.resolve("server.crt"),
                "TASKGRID_GRPC_TLS_KEY=" + certs.resolve("server.key"),
                "TASKGRID_GRPC_TLS_CLIENT_CA=" + certs.resolve("ca.crt"));
        credentials = InitialCredentials.read(server.dir());
    }

    @AfterAll
    static void stop() throws Exception {
        for (Process agent : agents) {
            agent.destroy();
            agent.waitFor(30, TimeUnit.SECONDS);
        }
        server.stop();
    }

    @Test
    void theRestApiAnswersOverHttpsWithTheConfiguredCertificate() throws Exception {
        HttpResponse<String> reply = https().send(HttpRequest.newBuilder(URI.create("https://localhost:" + HTTPS_PORT + "/workers"))
                .header("Authorization", "Bearer " + credentials.operatorToken()).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(reply.statusCode()).isEqualTo(200);
    }

    @Test
    void fromOtherMachinesTheApiIsServedOverHttpsOnly() throws Exception {
        Optional<InetAddress> external = Hosts.nonLoopbackAddress();
        assumeTrue(external.isPresent(), "no non-loopback address to try");
        String host = external.get().getHostAddress();
        TaskgridClient plain = new TaskgridClient("http://" + host + ":29092", credentials.operatorToken());
        TaskgridClient.Reply refused = plain.get("/workers");
        assertThat(refused.status()).isEqualTo(403);
        assertThat(refused.json().getString("detail")).contains("HTTPS only");
        assertThat(plain.withToken(null).get("/ui/").status()).as("nor the dashboard, whose sign-in would send a token")
                .isEqualTo(403);
        HttpResponse<String> secure = https().send(HttpRequest.newBuilder(URI.create("https://" + host + ":" + HTTPS_PORT
                + "/workers")).header("Authorization", "Bearer " + credentials.operatorToken()).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(secure.statusCode()).isEqualTo(200);
        assertThat(https().send(HttpRequest.newBuilder(URI.create("https://" + host + ":" + HTTPS_PORT + "/ui/")).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode()).as("the dashboard over HTTPS").isEqualTo(200);
        assertThat(new TaskgridClient("http://localhost:29092", credentials.operatorToken()).get("/workers").status())
                .as("this machine may still use plain HTTP").isEqualTo(200);
    }

    @Test
    void onlyAnAgentWithACertificateFromTheTrustedCaIsServed() throws Exception {
        Path logs = Path.of(SharedCluster.property("taskgrid.log.dir"));
        agent("tls-good", logs.resolve("tls-good.log"), "--tls-ca", certs.resolve("ca.crt").toString(),
                "--tls-cert", certs.resolve("client.crt").toString(), "--tls-key", certs.resolve("client.key").toString());
        agent("tls-nocert", logs.resolve("tls-nocert.log"), "--tls-ca", certs.resolve("ca.crt").toString());
        agent("tls-rogue", logs.resolve("tls-rogue.log"), "--tls-ca", certs.resolve("ca.crt").toString(),
                "--tls-cert", certs.resolve("rogue-client.crt").toString(), "--tls-key", certs.resolve("rogue-client.key").toString());
        agent("tls-plain", logs.resolve("tls-plain.log"));

        TaskgridClient api = new TaskgridClient("http://localhost:29092", credentials.operatorToken());
        poll(Duration.ofSeconds(60), Duration.ofMillis(200)).alias("the agent with a good certificate connects")
                .until(() -> !api.workers().isEmpty());
        JsonObject done = api.awaitFinal(api.submitCmd("echo over tls"), Duration.ofSeconds(30));
        assertThat(done.getString("stdout")).isEqualTo("over tls\n");
        assertThat(done.getString("workerId")).isEqualTo("tls-good");
        // Fixed wait: the agents without a trusted certificate keep trying; this gives them time to get in, if they
        // could, before the list is checked for them.
        TaskgridClient.sleep(3000);
        assertThat(api.workers()).extracting(w -> w.getString("id")).containsExactly("tls-good");
        for (String refused : List.of("tls-nocert", "tls-rogue", "tls-plain")) {
            assertThat(Files.readString(logs.resolve(refused + ".log"))).as(refused).contains("UNAVAILABLE");
        }
    }

    private static void agent(String id, Path log, String... tls) throws IOException {
        agents.add(AgentProcess.agent().id(id).master("localhost:" + GRPC_PORT)
                .args("--reconnect-delay", "500ms", "--state-dir", certs.resolve("state-" + id).toString())
                .args(tls)
                .joinToken(credentials.joinToken()).log(log).start());
    }

    private static HttpClient https() throws Exception {
        KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
        trust.load(null, null);
        try (InputStream ca = Files.newInputStream(certs.resolve("ca.crt"))) {
            trust.setCertificateEntry("taskgrid-test-ca", CertificateFactory.getInstance("X.509").generateCertificate(ca));
        }
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(trust);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, factory.getTrustManagers(), null);
        return HttpClient.newBuilder().sslContext(context).connectTimeout(Duration.ofSeconds(5)).build();
    }

    /** The openssl steps docs/security.md shows (TLS), for a test CA, and one nobody trusts. */
    private static void makeCertificates(Path dir) throws Exception {
        for (String ca : List.of("ca", "rogue-ca")) {
            openssl(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                    "-subj", "/CN=" + ca, "-keyout", ca + ".key", "-out", ca + ".crt");
        }
        issue(dir, "server", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1"
                + Hosts.nonLoopbackAddress().map(a -> ",IP:" + a.getHostAddress()).orElse(""));
        issue(dir, "client", "ca", "extendedKeyUsage=clientAuth");
        issue(dir, "rogue-client", "rogue-ca", "extendedKeyUsage=clientAuth");
        openssl(dir, "pkcs12", "-export", "-in", "server.crt", "-inkey", "server.key", "-certfile", "ca.crt",
                "-name", "default", "-out", "server.p12", "-passout", "pass:changeit");
    }

    private static void issue(Path dir, String name, String ca, String extension) throws Exception {
        openssl(dir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=" + name,
                "-keyout", name + ".key", "-out", name + ".csr");
        Files.writeString(dir.resolve(name + ".ext"), extension + "\n");
        openssl(dir, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key", "-CAcreateserial",
                "-days", "2", "-extfile", name + ".ext", "-out", name + ".crt");
    }

    private static void openssl(Path dir, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).as(String.join(" ", command) + "\n" + output).isZero();
    }

}
