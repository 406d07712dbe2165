package io.taskgrid.it.cluster;

import java.util.List;

/**
 * The master cannot start, and why, in one line. Thrown by {@link LocalCluster} as soon as the cause is known (a port
 * already taken before the start, a line of the master's that says it cannot start), so that {@code mvn -Pstart} and
 * the tests end within seconds instead of waiting for a master that will never be ready.
 */
public final class MasterStartFailure extends IllegalStateException {

    private static final long serialVersionUID = 1L;

    /**
     * What the master prints when it will not become ready: Taskgrid's own line (a setting it cannot use, its gRPC
     * port taken, its database out of reach), and Liberty's for a port it cannot bind (the REST API's) and for an
     * application or configuration that failed.
     */
    static final List<String> FATAL_MARKERS = List.of(
            "Taskgrid master not started:",
            "CWWKO0221E", // a TCP channel could not bind its port
            "CWWKZ0002E", // an exception occurred while starting the application
            "CWWKF0001E", // a feature definition could not be found
            "CWWKG0014E"); // server.xml could not be parsed

    public MasterStartFailure(String message) {
        super(message);
    }

    static boolean isFatal(String line) {
        for (String marker : FATAL_MARKERS) {
            if (line.contains(marker)) {
                return true;
            }
        }
        return false;
    }
}
