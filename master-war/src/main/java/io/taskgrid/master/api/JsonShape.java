package io.taskgrid.master.api;

/**
 * A linear pass over a request body before any JSON parser sees it, refusing the two shapes that cost a parser (or the
 * code after it) far more than their size: nesting thousands of levels deep, which overflows a recursive reader's
 * stack, and numbers with many digits or a huge exponent, whose exact value is expensive to build, compare or print.
 * No field of a task needs either, so the limits are far from anything a real client sends.
 */
final class JsonShape {

    /** A task body is two levels deep (the object, and env); this leaves room for any sane extension. */
    static final int MAX_DEPTH = 32;
    /** Longer than any whole number a field takes (a long has 19 digits), short enough to keep arithmetic trivial. */
    static final int MAX_NUMBER_CHARS = 32;

    private JsonShape() {
    }

    /** Throws a 400 {@link ApiProblem} for a body nested too deeply or holding too long a number; otherwise nothing. */
    static void check(String body) {
        int depth = 0;
        boolean inString = false;
        int numberStart = -1;
        for (int i = 0; i < body.length(); i++) {
            char c = body.charAt(i);
            if (inString) {
                if (c == '\\') {
                    i++;
                } else if (c == '"') {
                    inString = false;
                }
                continue;
            }
            boolean numberChar = (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
            if (numberChar) {
                if (numberStart < 0) {
                    numberStart = i;
                }
                if (i - numberStart + 1 > MAX_NUMBER_CHARS) {
                    throw ApiProblem.badRequest("a number in the body is longer than " + MAX_NUMBER_CHARS
                            + " characters; no field takes such a number");
                }
                continue;
            }
            numberStart = -1;
            switch (c) {
                case '"' -> inString = true;
                case '{', '[' -> {
                    if (++depth > MAX_DEPTH) {
                        throw ApiProblem.badRequest("the body is nested deeper than " + MAX_DEPTH
                                + " levels; a task is a flat object (env and secretEnv one level below)");
                    }
                }
                case '}', ']' -> depth--;
                default -> {
                    // whitespace, separators and literals: the parser judges them
                }
            }
        }
    }
}
