package io.taskgrid.cli;

import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.Reader;
import java.io.StringReader;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The lines of a followed event stream: every line end SSE allows, and a bound on what one line may make us keep. */
class EventStreamLinesTest {

    @Test
    void crLfLfAndCrAloneEachEndALine() throws Exception {
        BufferedReader in = new BufferedReader(new StringReader("event: output\r\ndata: {}\n\nid: 1\rlast"));
        assertThat(ApiClient.boundedLine(in)).isEqualTo("event: output");
        assertThat(ApiClient.boundedLine(in)).isEqualTo("data: {}");
        assertThat(ApiClient.boundedLine(in)).isEmpty();
        assertThat(ApiClient.boundedLine(in)).isEqualTo("id: 1");
        assertThat(ApiClient.boundedLine(in)).isEqualTo("last");
        assertThat(ApiClient.boundedLine(in)).isNull();
    }

    @Test
    void aLineWithoutEndPastTheBoundIsRefusedNotKept() {
        // An endless line, as a broken or hostile master could send: never more than the bound is read.
        Reader endless = new Reader() {
            @Override
            public int read(char[] buffer, int offset, int length) {
                java.util.Arrays.fill(buffer, offset, offset + length, 'x');
                return length;
            }

            @Override
            public void close() {
            }
        };
        assertThatThrownBy(() -> ApiClient.boundedLine(new BufferedReader(endless)))
                .isInstanceOf(ApiException.class).hasMessageContaining("larger than 8 MiB");
    }
}
