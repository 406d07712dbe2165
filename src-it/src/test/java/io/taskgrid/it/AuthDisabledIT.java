package io.taskgrid.it;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * taskgrid.auth.enabled=false, for development: no tokens made or needed, a warning at start, and the master answers
 * this machine only even when told to listen on every interface.
 */
class AuthDisabledIT {

    private static final int HTTP_PORT = 21092;
    private static final int GRPC_PORT = 21051;
    private static ExtraServer server;

    @BeforeAll
    static void startWithoutAuthentication() throws Exception {
        server = ExtraServer.start("taskgrid-noauth", "TASKGRID_HTTP_PORT=" + HTTP_PORT, "TASKGRID_GRPC_PORT=" + GRPC_PORT,
                "TASKGRID_LISTEN_HOST=*", "TASKGRID_AUTH_ENABLED=false");
    }

    @AfterAll
    static void stop() throws Exception {
        server.stop();
    }

    @Test
    void noTokenIsMadeOrNeededFromThisMachineAndEveryStartWarns() throws Exception {
        TaskgridClient local = new TaskgridClient("http://localhost:" + HTTP_PORT, null);
        assertThat(local.get("/workers").status()).isEqualTo(200);
        assertThat(server.dir().resolve("taskgrid-tokens.properties")).doesNotExist();
        assertThat(Files.readString(server.dir().resolve("logs/messages.log"))).contains("authentication is off");
    }

    @Test
    void otherMachinesGetNothingEvenWhenListeningOnEveryInterface() throws Exception {
        Optional<InetAddress> external = Hosts.nonLoopbackAddress();
        assumeTrue(external.isPresent(), "this machine has no non-loopback IPv4 address to try");
        TaskgridClient remote = new TaskgridClient("http://" + external.get().getHostAddress() + ":" + HTTP_PORT, null);
        TaskgridClient.Reply reply = remote.get("/workers");
        assertThat(reply.status()).isEqualTo(403);
        assertThat(reply.json().getString("detail")).contains("this machine only");
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(external.get(), GRPC_PORT), 2000);
            throw new AssertionError("the gRPC port answered on " + external.get());
        } catch (IOException expected) {
            // gRPC is bound to 127.0.0.1 while authentication is off
        }
    }

    /**
     * A page on another site can point its own name at 127.0.0.1 (DNS rebinding) and so reach this port from the
     * browser of someone on this machine; its requests carry that name in Host.
     */
    @Test
    void aRequestAddressedToAnotherNameIsRefusedEvenFromThisMachine() throws Exception {
        assertThat(rawGet("evil.example:" + HTTP_PORT)).startsWith("HTTP/1.1 403").contains("addressed to localhost")
                .contains("application/problem+json");
        assertThat(rawGet("localhost.evil.example")).startsWith("HTTP/1.1 403");
        assertThat(rawGet("localhost:" + HTTP_PORT)).startsWith("HTTP/1.1 200");
        assertThat(rawGet("127.0.0.1:" + HTTP_PORT)).startsWith("HTTP/1.1 200");
        // Every resource of the API, the later ones too, goes through the same check.
        for (String path : List.of("/me", "/tasks", "/tasks/counts", "/metrics", "/tasks/0/output?follow=true")) {
            assertThat(rawGet("evil.example", path)).as(path).startsWith("HTTP/1.1 403").contains("addressed to localhost");
        }
    }

    /**
     * With authentication off every request from this machine is an operator's, so a web page of any other origin,
     * open in a browser here, could change things with a form or a no-cors fetch (no preflight: a body-less POST, or a
     * text/plain body). Browsers send Origin with each; the master takes changes only from its own origin, and
     * bodies only as JSON. Clients that are not browsers send no Origin and are not affected.
     */
    @Test
    void aPageOfAnotherOriginCannotChangeAnything() throws Exception {
        String evil = "http://evil.example";
        String reseal = raw("POST", "/secrets/reseal", evil, null, "");
        assertThat(reseal).startsWith("HTTP/1.1 403").contains("application/problem+json").contains("Origin was");
        assertThat(raw("POST", "/secrets/keys", "null", null, "")).startsWith("HTTP/1.1 403");
        assertThat(raw("POST", "/workers/w1/drain", "http://localhost:1", null, "")).startsWith("HTTP/1.1 403");
        assertThat(raw("POST", "/tasks", evil, "text/plain", "{\"cmd\":\"true\"}")).startsWith("HTTP/1.1 403");
        assertThat(raw("DELETE", "/tasks/01a21901-b877-7076-add0-a07d5a32dca5", evil, null, ""))
                .startsWith("HTTP/1.1 403");
        // A form's content type is refused even without an Origin, and a body must be JSON.
        assertThat(raw("POST", "/workers/w1/drain", null, "application/x-www-form-urlencoded", ""))
                .startsWith("HTTP/1.1 415").contains("application/json");
        assertThat(raw("POST", "/tasks", null, "text/plain", "{\"cmd\":\"true\"}")).startsWith("HTTP/1.1 415");

        // curl, scripts and the master's own pages go on as before.
        String own = "http://localhost:" + HTTP_PORT;
        assertThat(raw("POST", "/secrets/reseal", null, null, "")).startsWith("HTTP/1.1 200");
        assertThat(raw("POST", "/secrets/reseal", own, null, "")).startsWith("HTTP/1.1 200");
        assertThat(raw("POST", "/workers/w1/drain", own, null, "")).as("no such worker, but let through")
                .startsWith("HTTP/1.1 404");
        assertThat(raw("POST", "/tasks", own, "application/json", "{\"cmd\":\"true\"}")).startsWith("HTTP/1.1 202");
    }

    /** A request as a browser would send it, Origin and all, addressed to localhost. */
    private static String raw(String method, String path, String origin, String contentType, String body)
            throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        StringBuilder head = new StringBuilder(method + " " + path + " HTTP/1.1\r\nHost: localhost:" + HTTP_PORT
                + "\r\nConnection: close\r\nContent-Length: " + bytes.length + "\r\n");
        if (origin != null) {
            head.append("Origin: ").append(origin).append("\r\n");
        }
        if (contentType != null) {
            head.append("Content-Type: ").append(contentType).append("\r\n");
        }
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), HTTP_PORT)) {
            socket.setSoTimeout(30_000);
            socket.getOutputStream().write((head + "\r\n").getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().write(bytes);
            return new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** GET /workers with a Host header of our choosing (java.net.http will not send a forged one). */
    private static String rawGet(String host) throws IOException {
        return rawGet(host, "/workers");
    }

    private static String rawGet(String host, String path) throws IOException {
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), HTTP_PORT)) {
            socket.setSoTimeout(10_000);
            socket.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            return new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
