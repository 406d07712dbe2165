package io.taskgrid.agent;

import org.junit.jupiter.api.Test;

import java.io.FileOutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class OsPipeTest {

    /** Each pipe's path opens that pipe and no other: what a command writes there is what its reader reads. */
    @Test
    void eachPathLeadsIntoItsOwnPipe() throws Exception {
        assumeTrue(OsPipe.usable(), "needs /proc/self/fd");
        for (int round = 0; round < 50; round++) {
            OsPipe[] two = OsPipe.openTwo();
            OsPipe single = OsPipe.open();
            try {
                OsPipe[] all = {two[0], two[1], single};
                for (int i = 0; i < all.length; i++) {
                    try (FileOutputStream out = new FileOutputStream(all[i].path())) {
                        out.write(("pipe " + i).getBytes(StandardCharsets.US_ASCII));
                    }
                }
                for (int i = 0; i < all.length; i++) {
                    all[i].closeSink();
                    ByteBuffer read = ByteBuffer.allocate(64);
                    while (all[i].source().read(read) >= 0) {
                        // to the end: this JVM's writing end is closed, and the path's was
                    }
                    assertThat(new String(read.array(), 0, read.position(), StandardCharsets.US_ASCII))
                            .isEqualTo("pipe " + i);
                }
            } finally {
                two[0].close();
                two[1].close();
                single.close();
            }
        }
    }

    /** What the JDK's process pipes cannot do: a reader blocked on a pipe someone else holds open is let go. */
    @Test
    void closingWakesAReaderBlockedOnAPipeStillHeldOpen() throws Exception {
        assumeTrue(OsPipe.usable(), "needs /proc/self/fd");
        OsPipe pipe = OsPipe.open();
        try (FileOutputStream holder = new FileOutputStream(pipe.path())) {
            pipe.closeSink();
            CompletableFuture<Throwable> reader = CompletableFuture.supplyAsync(() -> {
                try {
                    pipe.source().read(ByteBuffer.allocate(8));
                    return null;
                } catch (Exception e) {
                    return e;
                }
            });
            Thread.sleep(200);
            assertThat(reader).as("blocked: the holder keeps the pipe open").isNotDone();
            pipe.close();
            assertThat(reader.get(5, TimeUnit.SECONDS)).isInstanceOf(AsynchronousCloseException.class);
            holder.write(1);
        } catch (java.io.IOException expected) {
            // the holder may find no reader left (EPIPE): nothing reads this pipe any more
        }
    }
}
