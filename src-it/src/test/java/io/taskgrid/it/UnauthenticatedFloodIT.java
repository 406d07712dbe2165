package io.taskgrid.it;

import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.taskgrid.it.cluster.LocalCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Nothing a client sends without a token may grow the master's heap. Each kind of request the master answers before
 * (or instead of) authentication is sent {@value #REQUESTS} times, every one with names, values or tokens no other
 * request had (kilobytes long, so that keeping them would show), and the master's live heap after a full collection
 * must end within {@value #MAX_GROWTH_MIB} MiB of where it began; tasks still run afterwards.
 *
 * <p>Why it exists: the dashboard's file filter kept a "no such file" for every name asked under {@code /ui/}, and a
 * client without a token grew the heap by some 270 MiB in 40 s; Liberty's own error page (a 404 under
 * {@code /health/}) kept the locales of every {@code Accept-Language} it saw. Both are fixed; this keeps them fixed and
 * looks at the rest of what answers without a token. Not sent: HTTP methods that do not exist, which Open Liberty
 * itself keeps for good (see docs/security.md, Threat model). Header names it keeps too, but no more than 1,024 of them: the
 * warm-up fills that table, so what is measured is that it grows no further.
 *
 * <p>The client is raw pipelined HTTP/1.1 ({@link PipelinedHttp}) and raw gRPC calls, so that the master, not the
 * client, is what the two cores are busy with. Liberty closes the connection after a 400, 404 or 405, so those kinds
 * cost a connection per request and are the slow part.
 */
@ExtendWith(SharedCluster.class)
class UnauthenticatedFloodIT {

    /**
     * Enough to show the smallest leak found so far: before the fixes, {@code Accept-Language} values left 1.4 KB a
     * request (+35 MiB at this count) and the {@code /ui/} names 3 KB (+73 MiB). 100,000 of each made the test take
     * nine minutes of CI for no verdict the smaller count would not give.
     */
    static final int REQUESTS = 25_000;
    static final int MAX_GROWTH_MIB = 16;
    /** Requests of each kind before the baseline: the classes they load, the code they make hot, the pools they fill. */
    private static final int WARM_UP = 3_000;
    private static final int CONNECTIONS = 4;
    private static final int PIPELINED = 32;
    private static final String SERVICE = "taskgrid.v1.NodeService/";

    private final LocalCluster cluster = SharedCluster.cluster();
    private final TaskgridClient api = SharedCluster.client();
    private final URI base = URI.create(SharedCluster.config().apiBase());
    private final String host = base.getHost() + ":" + base.getPort();
    /** Makes this run's names its own, so that nothing an earlier run left can make a name familiar. */
    private final String run = Long.toString(ThreadLocalRandom.current().nextLong() >>> 16, 36);

    /** An HTTP kind: every request is answered with one of {@code statuses}. */
    private record HttpKind(String name, Set<Integer> statuses, IntFunction<byte[]> request) {
    }

    /** A gRPC kind: a call's full method name and headers; every call ends with one of {@code codes}. */
    private record GrpcKind(String name, Set<Status.Code> codes, IntFunction<Map.Entry<String, Metadata>> call) {
    }

    /** What one kind did, for the failure message and the log. */
    private record Measured(String kind, long requests, long millis, Object answers, long liveAfter) {
    }

    @Test
    void nothingSentWithoutATokenGrowsTheMastersHeapAndTasksStillRun() throws Exception {
        MasterHeap heap = new MasterHeap(cluster.masterPid());
        PipelinedHttp http = new PipelinedHttp(base.getHost(), base.getPort());
        ManagedChannel grpc = NettyChannelBuilder.forAddress(base.getHost(), cluster.config().grpcPort())
                .usePlaintext().build();
        List<HttpKind> httpKinds = httpKinds();
        List<GrpcKind> grpcKinds = grpcKinds();
        long started = System.nanoTime();
        try {
            for (HttpKind kind : httpKinds) {
                http.send(WARM_UP, CONNECTIONS, PIPELINED, i -> kind.request().apply(REQUESTS + i));
            }
            for (GrpcKind kind : grpcKinds) {
                calls(grpc, WARM_UP, i -> kind.call().apply(REQUESTS + i));
            }
            Map<String, Long> classesBefore = heap.histogram();
            long baseline = heap.liveBytes();

            List<Measured> measured = new ArrayList<>();
            for (HttpKind kind : httpKinds) {
                long t0 = System.nanoTime();
                PipelinedHttp.Tally tally = http.send(REQUESTS, CONNECTIONS, PIPELINED, kind.request());
                long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
                measured.add(new Measured(kind.name(), tally.total(), millis, tally.statuses(), heap.liveBytes()));
                assertThat(tally.total()).as(kind.name()).isEqualTo(REQUESTS);
                assertThat(tally.statuses().keySet()).as(kind.name() + ": the answers show what was exercised")
                        .isSubsetOf(kind.statuses());
            }
            for (GrpcKind kind : grpcKinds) {
                long t0 = System.nanoTime();
                Map<Status.Code, Long> codes = calls(grpc, REQUESTS, kind.call());
                long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
                measured.add(new Measured(kind.name(), REQUESTS, millis, codes, heap.liveBytes()));
                assertThat(codes.values().stream().mapToLong(Long::longValue).sum()).as(kind.name())
                        .isEqualTo(REQUESTS);
                assertThat(codes.keySet()).as(kind.name()).isSubsetOf(kind.codes());
            }
            long after = heap.liveBytes();
            String report = report(baseline, measured, after);
            System.out.println(report);
            assertThat(cluster.masterAlive()).isTrue();
            assertThat(api.awaitFinal(api.submitCmd("echo after the flood"), Duration.ofSeconds(60))
                    .getString("state")).isEqualTo("SUCCEEDED");
            assertThat((after - baseline) / (1024.0 * 1024))
                    .as("live heap growth in MiB after %,d requests of each kind without a token\n%s\n"
                            + "classes that grew most:\n%s", REQUESTS, report,
                            MasterHeap.grown(classesBefore, heap.histogram(), 15))
                    .isLessThan(MAX_GROWTH_MIB);
        } finally {
            grpc.shutdownNow();
            System.out.printf("UNAUTHENTICATED FLOOD took %d s%n",
                    TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started));
        }
    }

    private static String report(long baseline, List<Measured> measured, long after) {
        StringBuilder text = new StringBuilder(String.format("master's live heap at the start: %.1f MiB%n",
                baseline / 1048576.0));
        long before = baseline;
        for (Measured m : measured) {
            text.append(String.format("%-58s %,8d in %5.1f s  %+6.1f MiB  %s%n", m.kind(), m.requests(),
                    m.millis() / 1000.0, (m.liveAfter() - before) / 1048576.0, m.answers()));
            before = m.liveAfter();
        }
        return text.append(String.format("live heap at the end: %.1f MiB (%+.1f MiB)", after / 1048576.0,
                (after - baseline) / 1048576.0)).toString();
    }

    /** A name unique to this run, kind and request: {@code tag}, the index, then filler up to {@code length}. */
    private String name(String tag, int i, int length) {
        StringBuilder name = new StringBuilder(tag).append(run).append('-').append(Integer.toString(i, 36)).append('-');
        while (name.length() < length) {
            name.append((char) ('a' + (name.length() * 7 + i) % 26));
        }
        return name.toString();
    }

    private byte[] request(String method, String target, String... headers) {
        StringBuilder text = new StringBuilder(method).append(' ').append(target).append(" HTTP/1.1\r\n");
        boolean hasHost = false;
        for (String header : headers) {
            text.append(header).append("\r\n");
            hasHost |= header.regionMatches(true, 0, "Host:", 0, 5);
        }
        if (!hasHost) {
            text.append("Host: ").append(host).append("\r\n");
        }
        return text.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1);
    }

    private byte[] post(String target, String json) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        byte[] head = request("POST", target, "Content-Type: application/json", "Content-Length: " + body.length);
        byte[] all = new byte[head.length + body.length];
        System.arraycopy(head, 0, all, 0, head.length);
        System.arraycopy(body, 0, all, head.length, body.length);
        return all;
    }

    private List<HttpKind> httpKinds() {
        return List.of(
                // Half of them names of a type the dashboard serves, in its js/ folder: the path that looked for a file.
                new HttpKind("GET /ui/<name>, /ui/js/<name>.js", Set.of(404), i -> i % 2 == 0
                        ? request("GET", "/ui/" + name("u", i, 3000))
                        : request("GET", "/ui/js/" + name("j", i, 3000) + ".js")),
                new HttpKind("GET or POST /<name>, no token", Set.of(401), i -> i % 2 == 0
                        ? request("GET", "/" + name("r", i, 3000))
                        : post("/" + name("p", i, 1000), "{\"cmd\":\"" + name("b", i, 2000) + "\"}")),
                new HttpKind("GET /<name>, a wrong token (opaque or a JWT)", Set.of(401), i -> request("GET",
                        "/" + name("t", i, 1000), "Authorization: Bearer " + (i % 2 == 0 ? name("o", i, 2000)
                                : name("h", i, 600) + "." + name("c", i, 800) + "." + name("s", i, 600)))),
                new HttpKind("GET /tasks/<name>, no token, Host and a header <name>", Set.of(401), i -> request("GET",
                        "/tasks/" + name("k", i, 2500), "Host: " + name("v", i, 200) + ".example:" + (1 + i % 65535),
                        (char) ('A' + i % 26) + name("n", i, 100) + ": " + name("w", i, 300))),
                new HttpKind("DELETE /ui/<name>, PUT /openapi?<name> (405)", Set.of(405), i -> i % 2 == 0
                        ? request("DELETE", "/ui/" + name("d", i, 3000))
                        : request("PUT", "/openapi?" + name("q", i, 3000))),
                new HttpKind("GET /health/<name>, Accept-Language <values>", Set.of(404), i -> request("GET",
                        "/health/" + name("e", i, 2500), "Accept-Language: x-" + run + Integer.toString(i, 36)
                                + ", " + "de;q=0.5, ".repeat(20) + "fr;q=0.1")),
                new HttpKind("GET /health/{ready,live,started}?<name>", Set.of(200), i -> request("GET",
                        "/health/" + List.of("ready", "live", "started").get(i % 3) + "?" + name("q", i, 3000))),
                new HttpKind("GET /openapi/<name>", Set.of(404), i -> request("GET", "/openapi/" + name("a", i, 3000))),
                new HttpKind("GET /openapi/ui/<name>", Set.of(404),
                        i -> request("GET", "/openapi/ui/" + name("w", i, 3000))),
                new HttpKind("GET /?<name> from a browser (redirect)", Set.of(302),
                        i -> request("GET", "/?" + name("q", i, 3000), "Accept: text/html")),
                new HttpKind("GET /<name>, malformed Host", Set.of(400),
                        i -> request("GET", "/" + name("m", i, 1000), "Host: a b" + name("x", i, 2000))),
                new HttpKind("GET /tasks/%zz<name> (bad percent-encoding)", Set.of(400),
                        i -> request("GET", "/tasks/%zz" + name("z", i, 3000))),
                new HttpKind("GET /tasks with a 40 KB header", Set.of(400),
                        i -> request("GET", "/tasks", "X-Long: " + name("l", i, 40_000))));
    }

    private List<GrpcKind> grpcKinds() {
        return List.of(
                new GrpcKind("gRPC without a token: unknown methods, odd metadata",
                        Set.of(Status.Code.UNIMPLEMENTED, Status.Code.UNAUTHENTICATED), i -> {
                            Metadata headers = new Metadata();
                            if (i % 2 == 0) {
                                return Map.entry(SERVICE + name("M", i, 1000), headers);
                            }
                            for (int h = 0; h < 4; h++) {
                                headers.put(Metadata.Key.of(name("x" + h, i, 200).toLowerCase(Locale.ROOT),
                                        Metadata.ASCII_STRING_MARSHALLER), name("v", i, 1000));
                            }
                            return Map.entry(SERVICE + "Connect", headers);
                        }),
                new GrpcKind("gRPC with a wrong join token", Set.of(Status.Code.UNAUTHENTICATED), i -> {
                    Metadata headers = new Metadata();
                    headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
                            "Bearer " + name("g", i, 3000));
                    String method = List.of("Connect", "StreamOutput", "AssignTask").get(i % 3);
                    return Map.entry(SERVICE + method, headers);
                }));
    }

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

    /**
     * {@code count} calls, at most 256 under way at once, each of the method and with the headers {@code call} gives
     * (an empty message, as the master never gets to read it); how they ended.
     */
    private static Map<Status.Code, Long> calls(ManagedChannel channel, int count,
                                                IntFunction<Map.Entry<String, Metadata>> call) throws Exception {
        Semaphore underWay = new Semaphore(256);
        CountDownLatch ended = new CountDownLatch(count);
        Map<Status.Code, Long> codes = new ConcurrentHashMap<>();
        for (int i = 0; i < count; i++) {
            underWay.acquire();
            Map.Entry<String, Metadata> next = call.apply(i);
            MethodDescriptor<byte[], byte[]> method = MethodDescriptor.<byte[], byte[]>newBuilder()
                    .setType(MethodDescriptor.MethodType.UNARY).setFullMethodName(next.getKey())
                    .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();
            ClientCall<byte[], byte[]> clientCall = channel.newCall(method, CallOptions.DEFAULT
                    .withDeadlineAfter(60, TimeUnit.SECONDS));
            clientCall.start(new ClientCall.Listener<>() {
                @Override
                public void onClose(Status status, Metadata trailers) {
                    codes.merge(status.getCode(), 1L, Long::sum);
                    underWay.release();
                    ended.countDown();
                }
            }, next.getValue());
            clientCall.request(1);
            clientCall.sendMessage(new byte[0]);
            clientCall.halfClose();
        }
        assertThat(ended.await(10, TimeUnit.MINUTES)).as("every call ended").isTrue();
        return new TreeMap<>(codes);
    }
}
