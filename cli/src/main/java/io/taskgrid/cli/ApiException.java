package io.taskgrid.cli;

/**
 * The master answered with an error, or could not be reached. The message is what a person reads: the API's
 * {@code detail} where it gave one. {@link #exitCode()} is the command's exit status for it (see {@link ExitCodes}).
 */
final class ApiException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final int status;

    ApiException(int status, String message) {
        super(message);
        this.status = status;
    }

    /** The HTTP status; 0 when the master was not reached, -1 for a mistake in the command's own settings. */
    int status() {
        return status;
    }

    int exitCode() {
        if (status < 0) {
            return ExitCodes.USAGE;
        }
        if (status == 0) {
            return ExitCodes.UNREACHABLE;
        }
        if (status == 401 || status == 403) {
            return ExitCodes.NOT_ALLOWED;
        }
        if (status == 429 || status >= 500) {
            return ExitCodes.BUSY;
        }
        return ExitCodes.REFUSED;
    }
}
