package io.taskgrid.master.ui;

import io.taskgrid.master.security.TransportPolicy;
import io.taskgrid.master.task.TaskState;
import jakarta.inject.Inject;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletContext;
import jakarta.servlet.ServletException;
import jakarta.servlet.annotation.WebFilter;
import jakarta.servlet.http.HttpFilter;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.zip.GZIPOutputStream;

/**
 * Serves the web dashboard's static files ({@code /ui/...}, from the WAR's {@code ui/} folder) and sends a browser
 * that opens the root to it. The REST API owns every other path.
 *
 * <p>A filter rather than the server's default servlet, because the JAX-RS application is mapped to the whole context
 * ({@code /}): which of the two a server then picks for {@code /ui/app.js} differs between servers. Here it is the
 * same on Liberty, Payara and any other servlet container. The files hold no data, so they need no token (the API
 * calls they make do). Every answer carries a strict Content-Security-Policy (no inline script or style, nothing from
 * another origin, no framing), {@code nosniff} and {@code no-referrer}. Files are read once, kept with a gzip copy
 * and an ETag, and revalidated by the browser on every load ({@code no-cache}; unchanged files answer 304).
 *
 * <p>The files kept are the ones the WAR has, listed when the filter starts; a request only looks its name up. Kept
 * instead as they were asked for, every name a client made up stayed in the heap with its "no such file", and one
 * client without a token filled a 1 GiB heap within minutes.
 *
 * <p>Where the API refuses plain HTTP from other machines (so that tokens never cross a network in clear), the
 * dashboard is not served over plain HTTP to other machines either: its sign-in form would send the token before the
 * API could refuse it.
 */
@WebFilter(filterName = "taskgrid-ui", urlPatterns = "/*", asyncSupported = true)
public class UiFilter extends HttpFilter {

    private static final long serialVersionUID = 1L;

    static final String PREFIX = "/ui/";
    static final String CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self'; "
            + "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
            + "form-action 'self'; frame-ancestors 'none'";
    private static final Pattern FILE = Pattern.compile("(?:[A-Za-z0-9_-]+/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*");
    private static final Map<String, String> TYPES = Map.ofEntries(
            Map.entry("html", "text/html; charset=utf-8"),
            Map.entry("css", "text/css; charset=utf-8"),
            Map.entry("js", "text/javascript; charset=utf-8"),
            Map.entry("json", "application/json"),
            Map.entry("webmanifest", "application/manifest+json"),
            Map.entry("svg", "image/svg+xml"),
            Map.entry("png", "image/png"),
            Map.entry("ico", "image/x-icon"),
            Map.entry("txt", "text/plain; charset=utf-8"));

    /** A file as served: its bytes, a gzip copy when that is smaller, and an ETag. */
    record Asset(String type, byte[] bytes, byte[] gzipped, String etag) {
    }

    /** The files that may be served, by their name under {@code ui/}; never changed after {@link #init()}. */
    private transient Map<String, Asset> assets = Map.of();

    @Inject
    transient TransportPolicy transport;

    public UiFilter() {
    }

    /** A filter serving {@code assets}, as {@link #init()} would have found them, without a servlet container. */
    UiFilter(Map<String, Asset> assets, TransportPolicy transport) {
        this.assets = Map.copyOf(assets);
        this.transport = transport;
    }

    @Override
    public void init() {
        ServletContext context = getServletContext();
        assets = assets(context::getResourcePaths, context::getResourceAsStream);
    }

    @Override
    protected void doFilter(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws IOException, ServletException {
        String path = request.getRequestURI().substring(request.getContextPath().length());
        if (path.startsWith(PREFIX)) {
            serve(request, response, path.substring(PREFIX.length()));
        } else if (path.equals("/ui") || (path.equals("/") && isBrowserPage(request))) {
            response.setStatus(HttpServletResponse.SC_FOUND);
            response.setHeader("Location", request.getContextPath() + PREFIX);
            response.setHeader("Cache-Control", "no-store");
        } else {
            chain.doFilter(request, response);
        }
    }

    /** A browser opening the root asks for HTML; an API client (curl's {@code * / *}) does not. */
    private static boolean isBrowserPage(HttpServletRequest request) {
        String accept = request.getHeader("Accept");
        return "GET".equals(request.getMethod()) && accept != null && accept.contains("text/html");
    }

    private void serve(HttpServletRequest request, HttpServletResponse response, String name) throws IOException {
        securityHeaders(response);
        if (!"GET".equals(request.getMethod()) && !"HEAD".equals(request.getMethod())) {
            response.setHeader("Allow", "GET, HEAD");
            plain(response, HttpServletResponse.SC_METHOD_NOT_ALLOWED, "the dashboard's files can only be read\n");
            return;
        }
        if (!request.isSecure() && !transport.insecureAllowed() && !fromLoopback(request)) {
            plain(response, HttpServletResponse.SC_FORBIDDEN, "This master takes API tokens from other machines over "
                    + "HTTPS only, so it does not serve its dashboard to them over plain HTTP either: open /ui/ on its "
                    + "HTTPS port (taskgrid.https.port), or set taskgrid.tls.insecure.allowed=true on a network you "
                    + "trust.\n");
            return;
        }
        Asset asset = assets.get(name.isEmpty() ? "index.html" : name);
        if (asset == null) {
            plain(response, HttpServletResponse.SC_NOT_FOUND, "no such file in the dashboard\n");
            return;
        }
        boolean gzip = asset.gzipped() != null && acceptsGzip(request);
        // The gzip copy is another representation, so another tag.
        String etag = gzip ? asset.etag().substring(0, asset.etag().length() - 1) + "-gz\"" : asset.etag();
        response.setHeader("ETag", etag);
        response.setHeader("Cache-Control", "no-cache");
        response.setHeader("Vary", "Accept-Encoding");
        String ifNoneMatch = request.getHeader("If-None-Match");
        if (ifNoneMatch != null && (ifNoneMatch.contains(asset.etag()) || ifNoneMatch.contains(etag))) {
            response.setStatus(HttpServletResponse.SC_NOT_MODIFIED);
            return;
        }
        byte[] body = gzip ? asset.gzipped() : asset.bytes();
        response.setContentType(asset.type());
        if (gzip) {
            response.setHeader("Content-Encoding", "gzip");
        }
        response.setContentLength(body.length);
        if ("GET".equals(request.getMethod())) {
            response.getOutputStream().write(body);
        }
    }

    private static boolean fromLoopback(HttpServletRequest request) {
        try {
            return InetAddress.getByName(request.getRemoteAddr()).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    private static boolean acceptsGzip(HttpServletRequest request) {
        String accepted = request.getHeader("Accept-Encoding");
        return accepted != null && accepted.toLowerCase(Locale.ROOT).contains("gzip");
    }

    static void securityHeaders(HttpServletResponse response) {
        response.setHeader("Content-Security-Policy", CONTENT_SECURITY_POLICY);
        response.setHeader("X-Content-Type-Options", "nosniff");
        response.setHeader("Referrer-Policy", "no-referrer");
        response.setHeader("X-Frame-Options", "DENY");
        response.setHeader("Cross-Origin-Opener-Policy", "same-origin");
        response.setHeader("Cross-Origin-Resource-Policy", "same-origin");
    }

    private static void plain(HttpServletResponse response, int status, String text) throws IOException {
        response.setStatus(status);
        response.setContentType("text/plain; charset=utf-8");
        byte[] body = text.getBytes(StandardCharsets.UTF_8);
        response.setContentLength(body.length);
        response.getOutputStream().write(body);
    }

    /**
     * Every file under the WAR's {@code ui/} that may be served: a name of the expected shape, of a known type.
     *
     * @param list the paths directly under a folder of the WAR, folders ending in {@code /} (null for none), as
     *             {@link ServletContext#getResourcePaths} gives them
     * @param open a file of the WAR by its path, or null, as {@link ServletContext#getResourceAsStream} gives it
     */
    static Map<String, Asset> assets(Function<String, Set<String>> list, Function<String, InputStream> open) {
        Map<String, Asset> found = new TreeMap<>();
        collect(PREFIX, list, open, found);
        found.put(STATES_MODULE, asset(TYPES.get("js"), statesModule().getBytes(StandardCharsets.UTF_8)));
        return Map.copyOf(found);
    }

    /** The module that tells the dashboard the task states; made here, from the enum, not written by hand. */
    static final String STATES_MODULE = "js/states.js";

    /**
     * The task states in lifecycle order, and the ones that end a task, as a JavaScript module made from
     * {@link TaskState}: the dashboard's state filter, badges and "is it over" tests can then never miss a state.
     */
    static String statesModule() {
        String all = Arrays.stream(TaskState.values()).map(s -> "'" + s.name() + "'").collect(Collectors.joining(", "));
        String ended = TaskState.finished().stream().map(s -> "'" + s.name() + "'").collect(Collectors.joining(", "));
        return "// Made by the master from its TaskState enum; not a file of the WAR.\n"
                + "export const STATES = Object.freeze([" + all + "]);\n"
                + "export const FINAL = new Set([" + ended + "]);\n";
    }

    private static void collect(String folder, Function<String, Set<String>> list, Function<String, InputStream> open,
                                Map<String, Asset> found) {
        Set<String> paths = list.apply(folder);
        if (paths == null) {
            return;
        }
        for (String path : paths) {
            if (!path.startsWith(folder) || path.length() == folder.length()) {
                continue;
            }
            if (path.endsWith("/")) {
                collect(path, list, open, found);
                continue;
            }
            String file = path.substring(PREFIX.length());
            String type = TYPES.get(file.substring(file.lastIndexOf('.') + 1).toLowerCase(Locale.ROOT));
            if (type == null || !FILE.matcher(file).matches() || file.contains("..")) {
                continue;
            }
            try (InputStream in = open.apply(path)) {
                if (in != null) {
                    found.put(file, asset(type, in.readAllBytes()));
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + path + " from the application", e);
            }
        }
    }

    /** The names of the files served, as found at start. */
    Set<String> files() {
        return assets.keySet();
    }

    static Asset asset(String type, byte[] bytes) {
        byte[] gzipped = null;
        if (!type.startsWith("image/png")) {
            ByteArrayOutputStream buffer = new ByteArrayOutputStream();
            try (GZIPOutputStream out = new GZIPOutputStream(buffer)) {
                out.write(bytes);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            if (buffer.size() < bytes.length) {
                gzipped = buffer.toByteArray();
            }
        }
        return new Asset(type, bytes, gzipped, "\"" + sha256(bytes).substring(0, 20) + "\"");
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
