package io.taskgrid.master.security;

import org.junit.jupiter.api.Test;

import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

/** What a page of another origin could send a master with authentication off, and what the master's own clients send. */
class StateChangeGuardTest {

    private static Optional<Integer> status(String method, String origin, String contentType, boolean hasBody,
                                            boolean authEnabled) {
        return StateChangeGuard.refusal(method, origin, "http", "localhost:9092", contentType, hasBody, authEnabled)
                .map(StateChangeGuard.Refusal::status);
    }

    @Test
    void aCrossOriginChangeIsRefusedWithAuthenticationOff() {
        // A form or no-cors fetch of a page elsewhere: body-less, or text/plain, or with a JSON type it cannot send
        // without a preflight.
        assertThat(status("POST", "https://evil.example", null, false, false)).contains(403);
        assertThat(status("POST", "http://localhost:3000", null, false, false)).contains(403);
        assertThat(status("POST", "null", null, false, false)).as("a sandboxed page or a file").contains(403);
        assertThat(status("DELETE", "http://evil.example", null, false, false)).contains(403);
        assertThat(status("POST", "http://evil.example", "application/json", true, false)).contains(403);
    }

    @Test
    void theMastersOwnPagesAndNonBrowserClientsStillChangeThings() {
        assertThat(status("POST", "http://localhost:9092", "application/json", true, false)).isEmpty();
        assertThat(status("POST", "http://LOCALHOST:9092", null, false, false)).isEmpty();
        assertThat(status("POST", null, null, false, false)).as("curl -X POST").isEmpty();
        assertThat(status("POST", null, "application/json; charset=utf-8", true, false)).isEmpty();
        assertThat(status("DELETE", null, null, false, false)).isEmpty();
        assertThat(status("GET", "https://evil.example", "text/plain", true, false)).as("reads change nothing")
                .isEmpty();
        assertThat(StateChangeGuard.refusal("POST", "http://127.0.0.1", "http", "127.0.0.1:80", null, false, false))
                .as("default port").isEmpty();
        assertThat(StateChangeGuard.refusal("POST", "https://[::1]:9443", "https", "[::1]:9443", null, false, false))
                .isEmpty();
    }

    @Test
    void aBodyIsJsonOnEveryChangeWhateverTheAuthentication() {
        for (boolean auth : new boolean[] {true, false}) {
            assertThat(status("POST", null, "text/plain", true, auth)).as("a text/plain form").contains(415);
            assertThat(status("POST", null, "application/x-www-form-urlencoded", false, auth)).as("an empty form")
                    .contains(415);
            assertThat(status("POST", null, "multipart/form-data; boundary=x", true, auth)).contains(415);
            assertThat(status("POST", null, null, true, auth)).as("a body without a type").contains(415);
            assertThat(status("DELETE", null, "text/plain", true, auth)).contains(415);
        }
    }

    @Test
    void withAuthenticationOnTheOriginIsNotAsked() {
        // Every change needs a bearer token there, which no other origin has; a proxy may rewrite Host.
        assertThat(status("POST", "https://taskgrid.example.com", null, false, true)).isEmpty();
        assertThat(status("POST", "https://taskgrid.example.com", "application/json", true, true)).isEmpty();
    }
}
