package io.taskgrid.agent;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class LogTest {

    @Test
    void whatAMessageQuotesCannotStartALineOfItsOwn() {
        // A task's working directory, as a submitter wrote it, quoted in the reason the agent logs.
        String reason = "working directory /x\r\n2026-11-29T12:00:00Z INFO [taskgrid-agent] FORGED\u001b[0m does not exist";
        assertThat(Log.oneLine(reason)).doesNotContain("\r", "\n", "\u001b")
                .isEqualTo("working directory /x??2026-11-29T12:00:00Z INFO [taskgrid-agent] FORGED?[0m does not exist");
    }
}
