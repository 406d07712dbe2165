package io.taskgrid.master.config;

import java.util.List;

/**
 * Settings the master cannot start with. Its message is the whole story, on one line, for the log and for a launcher
 * that waits for the master; a stack trace would add nothing an operator can act on, so none is kept.
 */
public final class InvalidSettings extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final List<String> problems;

    InvalidSettings(List<String> problems) {
        super((problems.size() == 1 ? "a setting has a value the master cannot use: "
                : problems.size() + " settings have values the master cannot use: ") + String.join("; ", problems),
                null, false, false);
        this.problems = List.copyOf(problems);
    }

    public List<String> problems() {
        return problems;
    }
}
