package io.taskgrid.master.api;

import jakarta.json.bind.Jsonb;
import jakarta.json.bind.JsonbBuilder;

import java.nio.charset.StandardCharsets;

/**
 * Answers made into JSON bytes by the resource itself, as the server's JSON-B would: for the large ones, whose writing
 * must hold a permit ({@link HeavyReads#answer}) or meet a deadline ({@link HeavyReads#bounded}), which an entity left
 * for the server to serialize could do neither of.
 */
final class JsonAnswers {

    private JsonAnswers() {
    }

    /** Made at first use: JSON-B is the server's, and tests that load every class of the API have none. */
    private static Jsonb jsonb;

    private static synchronized Jsonb jsonb() {
        if (jsonb == null) {
            jsonb = JsonbBuilder.create();
        }
        return jsonb;
    }

    static byte[] bytes(Object value) {
        return jsonb().toJson(value).getBytes(StandardCharsets.UTF_8);
    }
}
