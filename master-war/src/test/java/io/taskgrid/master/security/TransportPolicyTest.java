package io.taskgrid.master.security;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TransportPolicyTest {

    @Test
    void loopbackNamesAreJudgedByTheirTextNotResolved() {
        for (String host : new String[]{"localhost", "LOCALHOST", "app.localhost", "127.0.0.1", "127.1.2.3", "::1",
                "[::1]", "0:0:0:0:0:0:0:1"}) {
            assertThat(TransportPolicy.isLoopbackName(host)).as(host).isTrue();
        }
        for (String host : new String[]{"*", "0.0.0.0", "evil.example", "localhost.evil.example", "127.0.0.1.nip.io",
                "10.0.0.1", "", "::"}) {
            assertThat(TransportPolicy.isLoopbackName(host)).as(host).isFalse();
        }
    }

    @Test
    void aHostHeaderMustBeANameOrAddressWithAnOptionalPort() {
        assertThat(List.of("localhost", "localhost:9092", "127.0.0.1:9092", "[::1]", "[::1]:9092", "master.example.com",
                "tg-master_2.local:443")).allMatch(TransportPolicy::isWellFormedHostHeader);
        assertThat(List.of("", "a b", "x\\y", "\"q\"", "x]", "[zz]", "[::1", "host:port", "h:99999999",
                "localhost:9092@evil", "a\r\nb")).noneMatch(TransportPolicy::isWellFormedHostHeader);
    }

    @Test
    void theHostOfAHostHeaderDropsThePort() {
        assertThat(TransportPolicy.hostOfHeader("localhost:9092")).isEqualTo("localhost");
        assertThat(TransportPolicy.hostOfHeader("[::1]:9092")).isEqualTo("[::1]");
        assertThat(TransportPolicy.hostOfHeader("evil.example")).isEqualTo("evil.example");
    }

    @Test
    void grpcBeyondLoopbackNeedsTlsOrAnExplicitAllowance() {
        assertThatThrownBy(() -> new TransportPolicy("*", false).checkGrpc(false))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("taskgrid.tls.insecure.allowed");
        assertThatThrownBy(() -> new TransportPolicy("10.1.2.3", false).checkGrpc(false))
                .isInstanceOf(IllegalStateException.class);
        new TransportPolicy("*", false).checkGrpc(true);
        new TransportPolicy("*", true).checkGrpc(false);
        new TransportPolicy("localhost", false).checkGrpc(false);
        new TransportPolicy("127.0.0.1", false).checkGrpc(false);
    }
}
