package io.taskgrid.master.api;

import io.taskgrid.master.text.SafeText;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.function.Predicate;

/**
 * The {@code limit} and {@code cursor} of a paged list ({@code GET /tasks}, {@code GET /workers}). A cursor is the id
 * of the last item of the previous page, base64url so that it reads as opaque; it is checked against the id's own rule
 * on the way back in, so a made-up cursor is a 400, never a query for something that cannot exist.
 */
final class PageRequest {

    private PageRequest() {
    }

    /** {@code limit}, or {@code defaultLimit} when absent; a 400 problem unless a whole number from 1 to {@code max}. */
    static int limit(String limit, int defaultLimit, int max) {
        if (limit == null || limit.isEmpty()) {
            return defaultLimit;
        }
        try {
            int value = Integer.parseInt(limit);
            if (value >= 1 && value <= max) {
                return value;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw ApiProblem.badRequest("'limit' must be a whole number from 1 to " + max + "; got '"
                + SafeText.echo(limit) + "'");
    }

    static String encodeCursor(String id) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(id.getBytes(StandardCharsets.US_ASCII));
    }

    /** The id a cursor stands for, null when absent; a 400 problem unless it is an id that {@code valid} accepts. */
    static String cursor(String cursor, Predicate<String> valid) {
        if (cursor == null || cursor.isEmpty()) {
            return null;
        }
        try {
            String id = new String(Base64.getUrlDecoder().decode(cursor), StandardCharsets.US_ASCII);
            if (valid.test(id)) {
                return id;
            }
        } catch (IllegalArgumentException e) {
            // reported below
        }
        throw ApiProblem.badRequest("'cursor' is not one this API handed out; use the 'next' value of the previous page");
    }
}
