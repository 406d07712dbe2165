package io.taskgrid.master.api;

/** The Idempotency-Key header: 1 to 255 visible ASCII characters, or absent. */
final class IdempotencyKeys {

    static final int MAX_LENGTH = 255;

    private IdempotencyKeys() {
    }

    /** @return the key, or null when the header is absent */
    static String validate(String header) {
        if (header == null) {
            return null;
        }
        if (header.isEmpty() || header.length() > MAX_LENGTH || !header.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
            throw ApiProblem.badRequest("Idempotency-Key must be 1 to " + MAX_LENGTH
                    + " visible ASCII characters (no spaces)");
        }
        return header;
    }
}
