package io.taskgrid.master.text;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Text that came from outside (a request, an agent, a token), made safe to put in a log line, an error message or a
 * column. Every such value passes through here on its way in, so that a CR/LF cannot forge a log line, a megabyte
 * field name cannot come back in a 400, and no value can be longer than the column that holds it.
 */
public final class SafeText {

    /** How much of a client's input an error message repeats back. */
    public static final int ECHO_LIMIT = 64;

    private SafeText() {
    }

    /**
     * At most {@link #ECHO_LIMIT} characters of {@code text}, control characters shown as {@code ?}, with "..." when
     * cut: for repeating a client's input in an error detail.
     */
    public static String echo(String text) {
        return oneLine(text, ECHO_LIMIT);
    }

    /** {@code text} on one line (every control character, CR and LF included, becomes {@code ?}), cut to {@code max}. */
    public static String oneLine(String text, int max) {
        if (text == null) {
            return null;
        }
        boolean cut = text.length() > max;
        String kept = cut ? text.substring(0, Math.max(0, max - 3)) : text;
        StringBuilder out = new StringBuilder(kept.length() + 3);
        for (int i = 0; i < kept.length(); i++) {
            char c = kept.charAt(i);
            out.append(Character.isISOControl(c) || c == '\u2028' || c == '\u2029' ? '?' : c);
        }
        if (cut) {
            out.append("...");
        }
        return trimSurrogate(out);
    }

    /** {@code text} cut to {@code max} characters with "..." when longer; line breaks are kept. */
    public static String clip(String text, int max) {
        if (text == null || text.length() <= max) {
            return text;
        }
        StringBuilder out = new StringBuilder(text.substring(0, max - 3));
        return trimSurrogate(out.append("..."));
    }

    /**
     * An identity (a token name, a JWT subject) that must fit a column of {@code max} characters without two different
     * identities becoming equal: a longer one keeps its start and gets a digest of the whole appended.
     */
    public static String fitIdentity(String identity, int max) {
        String clean = oneLine(identity, Integer.MAX_VALUE);
        if (clean.length() <= max && clean.equals(identity)) {
            return identity;
        }
        String digest = "~" + sha256(identity).substring(0, 16);
        return clean.substring(0, Math.min(clean.length(), max - digest.length())) + digest;
    }

    private static String trimSurrogate(StringBuilder out) {
        // A cut between the halves of a surrogate pair, or input that had half of one, would leave half a character.
        for (int i = 0; i < out.length(); i++) {
            char c = out.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < out.length() && Character.isLowSurrogate(out.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                out.setCharAt(i, '?');
            }
        }
        return out.toString();
    }

    private static String sha256(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every JVM", e);
        }
    }
}
