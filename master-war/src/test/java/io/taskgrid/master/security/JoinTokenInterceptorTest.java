package io.taskgrid.master.security;

import io.grpc.CallOptions;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.ServerCalls;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class JoinTokenInterceptorTest {

    private static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream in) {
            try {
                return in.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    };
    private static final MethodDescriptor<byte[], byte[]> CALL = MethodDescriptor.<byte[], byte[]>newBuilder()
            .setType(MethodDescriptor.MethodType.UNARY).setFullMethodName("test.Agent/Call")
            .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();

    @TempDir
    Path dir;

    private final long[] now = {5_000_000_000L};
    private final List<LogRecord> logged = new CopyOnWriteArrayList<>();
    private final Logger logger = Logger.getLogger(JoinTokenInterceptor.class.getName());
    private final Handler handler = new Handler() {
        @Override
        public void publish(LogRecord record) {
            logged.add(record);
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };
    private Server server;
    private ManagedChannel channel;

    @BeforeEach
    void start() throws Exception {
        Path tokens = dir.resolve("tokens");
        Files.writeString(tokens, "join.rack = sha256:" + TokenFile.sha256("the-join-token") + "\n");
        Credentials credentials = new Credentials(true, tokens.toString(), "localhost", 0, 0, null);
        ServerServiceDefinition service = ServerServiceDefinition.builder("test.Agent")
                .addMethod(CALL, ServerCalls.asyncUnaryCall((request, reply) -> {
                    reply.onNext(new byte[]{1});
                    reply.onCompleted();
                })).build();
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name).directExecutor()
                .addService(ServerInterceptors.intercept(service, new JoinTokenInterceptor(credentials, () -> now[0])))
                .build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        logger.addHandler(handler);
    }

    @AfterEach
    void stop() {
        logger.removeHandler(handler);
        channel.shutdownNow();
        server.shutdownNow();
    }

    private byte[] call(String authorization) {
        Metadata headers = new Metadata();
        if (authorization != null) {
            headers.put(JoinTokenInterceptor.AUTHORIZATION, authorization);
        }
        return ClientCalls.blockingUnaryCall(ClientInterceptors.intercept(channel,
                MetadataUtils.newAttachHeadersInterceptor(headers)), CALL, CallOptions.DEFAULT, new byte[0]);
    }

    @Test
    void onlyACallWithAJoinTokenReachesTheService() {
        assertThat(call("Bearer the-join-token")).containsExactly(1);
        for (String authorization : new String[]{null, "Bearer wrong", "the-join-token", "Basic the-join-token"}) {
            assertThatThrownBy(() -> call(authorization)).as(String.valueOf(authorization))
                    .isInstanceOf(StatusRuntimeException.class)
                    .extracting(e -> ((StatusRuntimeException) e).getStatus().getCode())
                    .isEqualTo(Status.Code.UNAUTHENTICATED);
        }
    }

    /** A client without a token may call as fast as the master answers: its refusals must not write a line each. */
    @Test
    void refusalsAreLoggedAtMostOnceAMinuteWithHowManyThereWere() {
        for (int i = 0; i < 1_000; i++) {
            assertThatThrownBy(() -> call("Bearer wrong")).isInstanceOf(StatusRuntimeException.class);
        }
        assertThat(logged).hasSize(1);
        assertThat(logged.get(0).getMessage()).contains("refused an agent call (Call)", "unknown join token")
                .doesNotContain("more call(s)");

        now[0] += JoinTokenInterceptor.LOG_INTERVAL_NANOS - 1;
        assertThatThrownBy(() -> call(null)).isInstanceOf(StatusRuntimeException.class);
        assertThat(logged).hasSize(1);

        now[0] += 1;
        assertThatThrownBy(() -> call(null)).isInstanceOf(StatusRuntimeException.class);
        assertThat(logged).hasSize(2);
        assertThat(logged.get(1).getMessage()).contains("no join token", "; 1000 more call(s) refused since the last "
                + "such line");
    }
}
