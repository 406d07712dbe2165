package io.taskgrid.master.http;

import java.util.Locale;
import java.util.Set;

/** Which requests only read: every filter that treats changes differently asks here, so all agree on it. */
public final class HttpMethods {

    private static final Set<String> READS = Set.of("GET", "HEAD", "OPTIONS");

    private HttpMethods() {
    }

    /** Whether {@code method} only reads (GET, HEAD, OPTIONS, in any case); false for anything else, null included. */
    public static boolean isRead(String method) {
        return method != null && READS.contains(method.toUpperCase(Locale.ROOT));
    }
}
