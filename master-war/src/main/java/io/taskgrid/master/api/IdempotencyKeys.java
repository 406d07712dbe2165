package io.taskgrid.master.api;

/**
 * The Idempotency-Key header: 1 to 255 visible ASCII characters, or absent. Keys belong to the caller that sent them:
 * what is stored is a digest of caller and key, so one caller can neither replay another's key nor learn, by a 422,
 * which keys another has used.
 */
final class IdempotencyKeys {

    static final int MAX_LENGTH = 255;

    private IdempotencyKeys() {
    }

    /** The Idempotency-Key header, checked: null when the header is absent, a 400 when it is malformed. */
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

    /** The key as stored: a SHA-256 of the caller's name and the key, or null for no key. */
    static String scoped(String caller, String key) {
        if (key == null) {
            return null;
        }
        try {
            byte[] digest = java.security.MessageDigest.getInstance("SHA-256")
                    .digest((caller + "\n" + key).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return "sha256:" + java.util.HexFormat.of().formatHex(digest);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every JVM", e);
        }
    }
}
