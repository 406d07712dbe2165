package io.taskgrid.master.config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * A file an operator edits while the master runs (the tokens file, the secret key file), read again when its contents
 * change. It is looked at no more than once per interval, so that the request path that asks costs a clock read, and
 * what decides is the contents (a digest), not the modification time and size: two edits of the same length within
 * the file system's time granularity are still told apart.
 */
public final class WatchedFile {

    public static final long DEFAULT_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final Path file;
    private final LongSupplier nanoClock;
    private final long intervalNanos;
    private final boolean missingIsEmpty;
    private volatile long nextCheck;
    private byte[] digest;

    /**
     * @param missingIsEmpty whether a file that does not exist reads as empty (else it is an error to read)
     */
    public WatchedFile(Path file, LongSupplier nanoClock, long intervalNanos, boolean missingIsEmpty) {
        this.file = file;
        this.nanoClock = nanoClock;
        this.intervalNanos = intervalNanos;
        this.missingIsEmpty = missingIsEmpty;
        this.nextCheck = nanoClock.getAsLong();
    }

    public Path path() {
        return file;
    }

    /** Whether the interval has passed since the last look: the cheap question the request path asks first. */
    public boolean due() {
        return nanoClock.getAsLong() - nextCheck >= 0;
    }

    /**
     * Hands the contents to {@code load} when they differ from what it was handed last (the first call always hands
     * them over), at most once per interval. {@code load} runs under this object's lock, and the next look is set
     * only once it has returned: a caller that finds the file {@link #due()} meanwhile waits here for the load, instead
     * of going on with what was read before it (at the first look: nothing, and every token refused). A content is
     * handed over once, so a caller that cannot use it hears of it again only when the file changes.
     *
     * @throws IOException when the file cannot be read
     */
    public synchronized void reloadIfChanged(Consumer<byte[]> load) throws IOException {
        long now = nanoClock.getAsLong();
        if (now - nextCheck < 0) {
            return;
        }
        try {
            readIfChanged().ifPresent(load);
        } finally {
            nextCheck = now + intervalNanos;
        }
    }

    /** Like {@link #reloadIfChanged}, whether or not the interval has passed: after this master wrote the file itself. */
    public synchronized void reloadNow(Consumer<byte[]> load) throws IOException {
        try {
            readIfChanged().ifPresent(load);
        } finally {
            nextCheck = nanoClock.getAsLong() + intervalNanos;
        }
    }

    private Optional<byte[]> readIfChanged() throws IOException {
        byte[] content;
        try {
            content = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            if (!missingIsEmpty) {
                throw e;
            }
            content = new byte[0];
        }
        byte[] now = sha256(content);
        if (Arrays.equals(now, digest)) {
            return Optional.empty();
        }
        digest = now;
        return Optional.of(content);
    }

    private static byte[] sha256(byte[] content) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(content);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
