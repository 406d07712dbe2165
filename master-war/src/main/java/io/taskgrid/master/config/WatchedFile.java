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
     * The contents when they differ from what this returned last (the first call returns them), at most once per
     * interval; empty when it is not time to look or nothing changed. A content is returned once, so a caller that
     * cannot use it hears of it again only when the file changes.
     *
     * @throws IOException when the file cannot be read
     */
    public synchronized Optional<byte[]> changed() throws IOException {
        long now = nanoClock.getAsLong();
        if (now - nextCheck < 0) {
            return Optional.empty();
        }
        nextCheck = now + intervalNanos;
        return readIfChanged();
    }

    /** Like {@link #changed()}, whether or not the interval has passed: after this master wrote the file itself. */
    public synchronized Optional<byte[]> changedNow() throws IOException {
        nextCheck = nanoClock.getAsLong() + intervalNanos;
        return readIfChanged();
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
