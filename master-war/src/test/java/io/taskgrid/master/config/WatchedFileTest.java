package io.taskgrid.master.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

class WatchedFileTest {

    @TempDir
    Path dir;

    @Test
    void contentsAreHandedOverOnceAChangeAndLookedAtOnceAnInterval() throws Exception {
        Path file = dir.resolve("tokens");
        Files.writeString(file, "a");
        AtomicLong clock = new AtomicLong();
        WatchedFile watched = new WatchedFile(file, clock::get, 1000, false);
        List<String> seen = new ArrayList<>();
        watched.reloadIfChanged(c -> seen.add(new String(c, StandardCharsets.UTF_8)));
        Files.writeString(file, "b");
        watched.reloadIfChanged(c -> seen.add(new String(c, StandardCharsets.UTF_8)));
        assertThat(seen).as("not looked at again within the interval").containsExactly("a");
        clock.addAndGet(1000);
        watched.reloadIfChanged(c -> seen.add(new String(c, StandardCharsets.UTF_8)));
        clock.addAndGet(1000);
        watched.reloadIfChanged(c -> seen.add(new String(c, StandardCharsets.UTF_8)));
        assertThat(seen).as("the change once, then nothing while it stays").containsExactly("a", "b");
    }

    /**
     * A caller that arrives while the first contents are being loaded must wait for them. Before, the next look was
     * set before the load ran, and a second caller went on with what was loaded before (at the start: no tokens at
     * all): the master refused valid tokens, and agents that reconnected at once after a restart were turned away.
     */
    @Test
    void aCallerDuringALoadWaitsForItInsteadOfGoingOnWithoutIt() throws Exception {
        Path file = dir.resolve("tokens");
        Files.writeString(file, "a");
        WatchedFile watched = new WatchedFile(file, System::nanoTime, TimeUnit.SECONDS.toNanos(10), false);
        AtomicBoolean loaded = new AtomicBoolean();
        CountDownLatch loading = new CountDownLatch(1);
        Thread first = new Thread(() -> {
            try {
                watched.reloadIfChanged(content -> {
                    loading.countDown();
                    sleep(300);
                    loaded.set(true);
                });
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        first.start();
        loading.await();
        assertThat(watched.due()).as("still due while the load runs").isTrue();
        watched.reloadIfChanged(content -> {
            throw new AssertionError("handed over twice");
        });
        assertThat(loaded).as("the second caller returned only once the first load was done").isTrue();
        first.join();
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
