package io.taskgrid.master.ui;

import io.taskgrid.master.security.TransportPolicy;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.WriteListener;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import java.util.zip.GZIPInputStream;

import static org.assertj.core.api.Assertions.assertThat;

class UiFilterTest {

    private static final String SCRIPT = "export const x = 1;\n".repeat(50);

    /** The WAR as the servlet container lists it: folders end in a slash, files are read by path. */
    private static final Map<String, String> WAR = Map.of(
            "/ui/index.html", "<!doctype html><title>Taskgrid</title>",
            "/ui/js/main.js", SCRIPT,
            "/ui/js/views/tasks.js", "export {};",
            "/ui/.hidden.js", "not served",
            "/ui/notes", "no type, not served",
            "/ui/archive.zip", "a type the dashboard does not serve");

    private static Set<String> list(String folder) {
        Set<String> paths = new TreeSet<>();
        for (String path : WAR.keySet()) {
            if (path.startsWith(folder)) {
                int slash = path.indexOf('/', folder.length());
                paths.add(slash < 0 ? path : path.substring(0, slash + 1));
            }
        }
        return paths.isEmpty() ? null : paths;
    }

    private static InputStream open(String path) {
        String text = WAR.get(path);
        return text == null ? null : new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8));
    }

    private static UiFilter filter(boolean insecureAllowed) {
        TransportPolicy transport = new TransportPolicy() {
            @Override
            public boolean insecureAllowed() {
                return insecureAllowed;
            }
        };
        return new UiFilter(UiFilter.assets(UiFilterTest::list, UiFilterTest::open), transport);
    }

    @Test
    void theFilesServedAreTheOnesTheWarHasOfAServedTypeAndName() {
        assertThat(filter(false).files()).containsExactlyInAnyOrder("index.html", "js/main.js", "js/views/tasks.js",
                UiFilter.STATES_MODULE);
    }

    /** The dashboard's lists of states are the enum's: a state added to the lifecycle reaches its filter and badges. */
    @Test
    void theStatesModuleIsMadeFromTheEnum() throws Exception {
        String module = UiFilter.statesModule();
        assertThat(module).contains("export const STATES = Object.freeze([" + java.util.Arrays.stream(
                io.taskgrid.master.task.TaskState.values()).map(state -> "'" + state.name() + "'")
                .collect(java.util.stream.Collectors.joining(", ")) + "]);");
        assertThat(module).contains("export const FINAL = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', "
                + "'LOST']);");
        Exchange exchange = Exchange.get("/ui/" + UiFilter.STATES_MODULE, Map.of());
        filter(false).doFilter(exchange.request(), exchange.response(), (rq, rs) -> {
            throw new AssertionError("served by the filter");
        });
        assertThat(exchange.status).isEqualTo(200);
        assertThat(exchange.headers.get("Content-Type")).startsWith("text/javascript");
        assertThat(exchange.body()).isEqualTo(module);
    }

    /** Before, each unknown name was remembered as such, and the heap grew with every name a client made up. */
    @Test
    void unknownNamesAre404sAndLeaveNothingBehind() throws Exception {
        UiFilter filter = filter(false);
        Set<String> before = Set.copyOf(filter.files());
        for (int i = 0; i < 2_000; i++) {
            for (String name : new String[]{"nope-" + i, "js/nope-" + i + ".js", "../" + i + ".html", "js/"}) {
                Exchange exchange = Exchange.get("/ui/" + name, Map.of());
                filter.doFilter(exchange.request(), exchange.response(), (rq, rs) -> {
                    throw new AssertionError("a request under /ui/ reached the API");
                });
                assertThat(exchange.status).as(name).isEqualTo(404);
                assertThat(exchange.headers).containsEntry("Content-Security-Policy", UiFilter.CONTENT_SECURITY_POLICY);
            }
        }
        assertThat(filter.files()).isEqualTo(before);
    }

    @Test
    void aKnownFileComesWithItsTypeEtagSecurityHeadersAndGzipWhenAsked() throws Exception {
        UiFilter filter = filter(false);
        Exchange plain = Exchange.get("/ui/js/main.js", Map.of());
        filter.doFilter(plain.request(), plain.response(), null);
        assertThat(plain.status).isEqualTo(200);
        assertThat(plain.body()).isEqualTo(SCRIPT);
        assertThat(plain.headers).containsEntry("Content-Type", "text/javascript; charset=utf-8")
                .containsEntry("Cache-Control", "no-cache")
                .containsEntry("X-Content-Type-Options", "nosniff")
                .containsEntry("Content-Security-Policy", UiFilter.CONTENT_SECURITY_POLICY)
                .doesNotContainKey("Content-Encoding");
        String etag = plain.headers.get("ETag");
        assertThat(etag).matches("\"[0-9a-f]{20}\"");

        Exchange gzip = Exchange.get("/ui/js/main.js", Map.of("Accept-Encoding", "gzip, br"));
        filter.doFilter(gzip.request(), gzip.response(), null);
        assertThat(gzip.headers).containsEntry("Content-Encoding", "gzip").containsEntry("Vary", "Accept-Encoding");
        assertThat(gzip.headers.get("ETag")).isNotEqualTo(etag).endsWith("-gz\"");
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(gzip.out.toByteArray()))) {
            assertThat(new String(in.readAllBytes(), StandardCharsets.UTF_8)).isEqualTo(SCRIPT);
        }

        Exchange revalidated = Exchange.get("/ui/js/main.js", Map.of("If-None-Match", etag));
        filter.doFilter(revalidated.request(), revalidated.response(), null);
        assertThat(revalidated.status).isEqualTo(304);
        assertThat(revalidated.out.size()).isZero();

        Exchange index = Exchange.get("/ui/", Map.of());
        filter.doFilter(index.request(), index.response(), null);
        assertThat(index.status).isEqualTo(200);
        assertThat(index.headers).containsEntry("Content-Type", "text/html; charset=utf-8");
    }

    @Test
    void otherMethodsAre405AndTheRootSendsBrowsersToTheDashboard() throws Exception {
        UiFilter filter = filter(false);
        Exchange post = Exchange.of("POST", "/ui/index.html", "127.0.0.1", Map.of());
        filter.doFilter(post.request(), post.response(), null);
        assertThat(post.status).isEqualTo(405);
        assertThat(post.headers).containsEntry("Allow", "GET, HEAD");

        Exchange root = Exchange.get("/", Map.of("Accept", "text/html,application/xhtml+xml"));
        filter.doFilter(root.request(), root.response(), null);
        assertThat(root.status).isEqualTo(302);
        assertThat(root.headers).containsEntry("Location", "/ui/");

        AtomicBoolean passedOn = new AtomicBoolean();
        Exchange api = Exchange.get("/", Map.of("Accept", "*/*"));
        filter.doFilter(api.request(), api.response(), (rq, rs) -> passedOn.set(true));
        assertThat(passedOn).isTrue();
    }

    @Test
    void plainHttpFromAnotherMachineIsRefusedUnlessAllowed() throws Exception {
        Exchange remote = Exchange.of("GET", "/ui/index.html", "10.1.2.3", Map.of());
        filter(false).doFilter(remote.request(), remote.response(), null);
        assertThat(remote.status).isEqualTo(403);

        Exchange allowed = Exchange.of("GET", "/ui/index.html", "10.1.2.3", Map.of());
        filter(true).doFilter(allowed.request(), allowed.response(), null);
        assertThat(allowed.status).isEqualTo(200);
    }

    /** A request and a response without a servlet container: the few methods the filter calls, recorded. */
    private static final class Exchange {
        private final String method;
        private final String uri;
        private final String remoteAddress;
        private final Map<String, String> requestHeaders;
        int status = 200;
        final Map<String, String> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        private Exchange(String method, String uri, String remoteAddress, Map<String, String> requestHeaders) {
            this.method = method;
            this.uri = uri;
            this.remoteAddress = remoteAddress;
            this.requestHeaders = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
            this.requestHeaders.putAll(requestHeaders);
        }

        static Exchange get(String uri, Map<String, String> headers) {
            return of("GET", uri, "127.0.0.1", headers);
        }

        static Exchange of(String method, String uri, String remoteAddress, Map<String, String> headers) {
            return new Exchange(method, uri, remoteAddress, headers);
        }

        String body() {
            return out.toString(StandardCharsets.UTF_8);
        }

        HttpServletRequest request() {
            Map<String, Function<Object[], Object>> answers = new HashMap<>();
            answers.put("getRequestURI", a -> uri);
            answers.put("getContextPath", a -> "");
            answers.put("getMethod", a -> method);
            answers.put("getHeader", a -> requestHeaders.get((String) a[0]));
            answers.put("isSecure", a -> false);
            answers.put("getRemoteAddr", a -> remoteAddress);
            return proxy(HttpServletRequest.class, answers);
        }

        HttpServletResponse response() {
            ServletOutputStream stream = new ServletOutputStream() {
                @Override
                public boolean isReady() {
                    return true;
                }

                @Override
                public void setWriteListener(WriteListener listener) {
                    throw new UnsupportedOperationException();
                }

                @Override
                public void write(int b) {
                    out.write(b);
                }
            };
            Map<String, Function<Object[], Object>> answers = new HashMap<>();
            answers.put("setStatus", a -> status = (Integer) a[0]);
            answers.put("setHeader", a -> headers.put((String) a[0], (String) a[1]));
            answers.put("setContentType", a -> headers.put("Content-Type", (String) a[0]));
            answers.put("setContentLength", a -> headers.put("Content-Length", a[0].toString()));
            answers.put("getOutputStream", a -> stream);
            return proxy(HttpServletResponse.class, answers);
        }

        private static <T> T proxy(Class<T> type, Map<String, Function<Object[], Object>> answers) {
            return type.cast(Proxy.newProxyInstance(UiFilterTest.class.getClassLoader(), new Class<?>[]{type},
                    (self, method, args) -> {
                        Function<Object[], Object> answer = answers.get(method.getName());
                        if (answer == null) {
                            throw new UnsupportedOperationException(type.getSimpleName() + "." + method.getName());
                        }
                        Object value = answer.apply(args);
                        return method.getReturnType() == void.class ? null : value;
                    }));
        }
    }
}
