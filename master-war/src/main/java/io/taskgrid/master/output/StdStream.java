package io.taskgrid.master.output;

import java.util.Optional;

/** One of a command's two output streams, as the API, the table and the protocol name it. */
public enum StdStream {
    STDOUT("stdout"), STDERR("stderr");

    private final String column;

    StdStream(String column) {
        this.column = column;
    }

    /** Its name in the API and in {@code TG_OUTPUT_CHUNK.STREAM}. */
    public String column() {
        return column;
    }

    public static Optional<StdStream> named(String name) {
        for (StdStream stream : values()) {
            if (stream.column.equals(name)) {
                return Optional.of(stream);
            }
        }
        return Optional.empty();
    }
}
