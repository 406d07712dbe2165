package io.taskgrid.agent;

import io.grpc.Attributes;
import io.grpc.CallCredentials;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.SecurityLevel;
import io.grpc.Status;
import io.taskgrid.proto.v1.NodeServiceGrpc;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

class JoinTokenCredentialsTest {

    private static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    @Test
    void overPlaintextTheTokenGoesOnlyToThisMachine() {
        JoinTokenCredentials credentials = new JoinTokenCredentials("tgj_secret", false);
        assertThat(apply(credentials, "localhost:50051", SecurityLevel.NONE).header()).isEqualTo("Bearer tgj_secret");
        assertThat(apply(credentials, "127.0.0.1:50051", SecurityLevel.NONE).header()).isEqualTo("Bearer tgj_secret");
        assertThat(apply(credentials, "[::1]:50051", SecurityLevel.NONE).header()).isEqualTo("Bearer tgj_secret");

        Outcome remote = apply(credentials, "192.0.2.1:50051", SecurityLevel.NONE);
        assertThat(remote.header()).isNull();
        assertThat(remote.failure().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
        assertThat(remote.failure().getDescription()).contains("in clear").contains("--plaintext");
        assertThat(apply(credentials, "no-such-host.invalid:50051", SecurityLevel.NONE).failure()).isNotNull();
    }

    @Test
    void withTlsOrWhenToldTheTokenGoesAnywhere() {
        assertThat(apply(new JoinTokenCredentials("tgj_secret", false), "192.0.2.1:50051",
                SecurityLevel.PRIVACY_AND_INTEGRITY).header()).isEqualTo("Bearer tgj_secret");
        assertThat(apply(new JoinTokenCredentials("tgj_secret", true), "192.0.2.1:50051", SecurityLevel.NONE).header())
                .isEqualTo("Bearer tgj_secret");
    }

    @Test
    void withoutATokenNothingIsSent() {
        Outcome none = apply(new JoinTokenCredentials(null, false), "192.0.2.1:50051", SecurityLevel.NONE);
        assertThat(none.failure()).isNull();
        assertThat(none.header()).isNull();
    }

    private record Outcome(String header, Status failure) {
    }

    private static Outcome apply(CallCredentials credentials, String authority, SecurityLevel level) {
        AtomicReference<Outcome> outcome = new AtomicReference<>();
        credentials.applyRequestMetadata(new CallCredentials.RequestInfo() {
            @Override
            public MethodDescriptor<?, ?> getMethodDescriptor() {
                return NodeServiceGrpc.getConnectMethod();
            }

            @Override
            public SecurityLevel getSecurityLevel() {
                return level;
            }

            @Override
            public String getAuthority() {
                return authority;
            }

            @Override
            public Attributes getTransportAttrs() {
                return Attributes.EMPTY;
            }
        }, Runnable::run, new CallCredentials.MetadataApplier() {
            @Override
            public void apply(Metadata headers) {
                outcome.set(new Outcome(headers.get(AUTHORIZATION), null));
            }

            @Override
            public void fail(Status status) {
                outcome.set(new Outcome(null, status));
            }
        });
        return outcome.get();
    }
}
