package io.taskgrid.master.security;

import java.util.Locale;
import java.util.Optional;

/** What a caller of the REST API may do; each role includes the ones before it. */
public enum Role {
    /** Read tasks and workers. */
    VIEWER,
    /** And submit tasks, and cancel its own. */
    SUBMITTER,
    /** And everything else: cancel any task, drain workers. */
    OPERATOR;

    public boolean includes(Role other) {
        return ordinal() >= other.ordinal();
    }

    public static Optional<Role> parse(String name) {
        try {
            return Optional.of(valueOf(name.trim().toUpperCase(Locale.ROOT)));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }
}
