package io.taskgrid.it.bench;

import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LoadGeneratorTest {

    private static final String BODY = "{\"cmd\":\"true\"}";

    @Test
    void aPostWithoutAnIdempotencyKeyIsSentOnceEvenWhenItsConnectionBreaks() throws Exception {
        try (FakeHttpServer server = new FakeHttpServer(n -> -1); RawHttp http = client(server)) {
            assertThatThrownBy(() -> http.post("/tasks", BODY)).isInstanceOf(IOException.class);
            Thread.sleep(200);
            assertThat(server.heads).hasSize(1);
            assertThat(server.heads.get(0)).doesNotContainIgnoringCase("Idempotency-Key");
        }
    }

    @Test
    void aPostWithAnIdempotencyKeyIsSentOnceMoreWithTheSameKey() throws Exception {
        try (FakeHttpServer server = new FakeHttpServer(n -> n == 0 ? -1 : 202); RawHttp http = client(server)) {
            assertThat(http.post("/tasks", BODY, "k-1").status()).isEqualTo(202);
            assertThat(server.heads).hasSize(2).allSatisfy(head -> assertThat(head).contains("Idempotency-Key: k-1"));
        }
    }

    @Test
    void openLoopLatencyCountsFromTheDueTimeSoASlowServerShowsInP99() throws Exception {
        // Each answer takes 40 ms and one connection sends: at most 25/s go through while 100/s are offered, so the
        // requests fall ever further behind their due times. Measured from when each was sent, every latency would
        // be about 40 ms; measured from its due time, the late ones wait hundreds of ms.
        try (FakeHttpServer server = new FakeHttpServer(n -> {
            Thread.sleep(40);
            return 202;
        })) {
            OpenLoop.Result result = OpenLoop.run(() -> client(server), BODY, 100, 1.0, 1);
            assertThat(result.accepted()).isBetween(20L, 45L);
            assertThat(result.unsent()).isPositive();
            assertThat(result.sent() + result.unsent()).isEqualTo(100);
            assertThat(result.p50()).isGreaterThan(200);
            assertThat(result.p99()).isGreaterThan(400);
            assertThat(server.heads).allSatisfy(head -> assertThat(head).doesNotContainIgnoringCase("Idempotency-Key"));
        }
    }

    @Test
    void openLoopKeepsItsRateWhenTheServerKeepsUp() throws Exception {
        try (FakeHttpServer server = new FakeHttpServer(n -> 202)) {
            OpenLoop.Result result = OpenLoop.run(() -> client(server), BODY, 200, 1.0, 4);
            assertThat(result.accepted()).isEqualTo(200);
            assertThat(result.errors()).isZero();
            assertThat(result.unsent()).isZero();
            assertThat(result.achievedPerSecond()).isBetween(150.0, 220.0);
        }
    }

    @Test
    void openLoopCountsRefusalsAndBrokenConnectionsAsErrors() throws Exception {
        try (FakeHttpServer server = new FakeHttpServer(n -> n % 3 == 0 ? 503 : n % 3 == 1 ? -1 : 202)) {
            OpenLoop.Result result = OpenLoop.run(() -> client(server), BODY, 60, 1.0, 2);
            assertThat(result.sent()).isEqualTo(60);
            assertThat(result.errors()).isEqualTo(40);
            assertThat(result.accepted()).isEqualTo(20);
            assertThat(server.heads).hasSize(60);
        }
    }

    private static RawHttp client(FakeHttpServer server) {
        return new RawHttp("127.0.0.1", server.port(), null);
    }
}
