package io.taskgrid.master.api;

import jakarta.ws.rs.core.StreamingOutput;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A read of task output holds its permit until its answer is written, and not longer than the write deadline, however
 * slowly (or never) the client reads.
 */
class HeavyReadsTest {

    /** The body of an answer, as the resource makes it (without a JAX-RS runtime for the response around it). */
    private static StreamingOutput answer(HeavyReads reads, byte[] bytes) {
        return reads.leased(() -> bytes);
    }

    private static StreamingOutput body(StreamingOutput body) {
        return body;
    }

    @Test
    void thePermitIsHeldUntilTheAnswerIsWritten() throws Exception {
        HeavyReads reads = new HeavyReads(1);
        StreamingOutput pending = body(answer(reads, new byte[200_000]));
        assertThat(reads.inUse()).as("made, not yet written").isEqualTo(1);
        assertThatThrownBy(() -> answer(reads, new byte[10])).as("a second read waits, then 503")
                .isInstanceOfSatisfying(ApiProblem.class, p -> assertThat(p.status()).isEqualTo(503));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        pending.write(out);
        assertThat(out.size()).isEqualTo(200_000);
        assertThat(reads.inUse()).isZero();
    }

    @Test
    void aClientThatStopsReadingIsCutOffAtTheDeadlineAndItsPermitReturns() throws Exception {
        HeavyReads reads = new HeavyReads(1, 300);
        StreamingOutput pending = body(answer(reads, new byte[4 * HeavyReads.SLICE]));
        OutputStream slow = new OutputStream() {
            @Override
            public void write(int b) {
                throw new UnsupportedOperationException();
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                try {
                    Thread.sleep(200); // a client that takes a long while for each slice
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
            }
        };
        long start = System.nanoTime();
        assertThatThrownBy(() -> pending.write(slow)).isInstanceOf(IOException.class)
                .hasMessageContaining("did not read the answer");
        assertThat((System.nanoTime() - start) / 1_000_000).isLessThan(2_000);
        assertThat(reads.inUse()).isZero();
    }

    @Test
    void aPermitWhoseAnswerIsNeverWrittenIsTakenBackAtTheDeadline() {
        HeavyReads reads = new HeavyReads(1, 300);
        answer(reads, new byte[10]); // the server never writes it (the client went away first)
        assertThat(reads.inUse()).isEqualTo(1);
        assertThat(answer(reads, new byte[10])).as("taken once the first one's deadline passed").isNotNull();
    }
}
