package io.taskgrid.master.task;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * A check every transaction of the writer runs first, on its own connection: it throws when this master may no longer
 * write (another master took over its database). Running inside the transaction is what makes it a fence rather
 * than a hint: the check and the writes it lets through commit together, or neither does.
 */
@FunctionalInterface
public interface WriteFence {

    /** No fence: the only master of its database. */
    WriteFence NONE = c -> {
    };

    /** @throws FencedOff when this master must not write; any other SQLException as the database says */
    void check(Connection c) throws SQLException;

    /** This master no longer holds the right to write: nothing of the transaction was written. */
    final class FencedOff extends SQLException {
        private static final long serialVersionUID = 1L;

        public FencedOff(String message) {
            super(message, "TGF01");
        }
    }
}
