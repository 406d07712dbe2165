package io.taskgrid.agent;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * Drains one output stream of a process, keeping at most {@code limit} bytes. It reads to the end even past the cap:
 * a process whose pipe is not read blocks once the pipe buffer is full and would never finish.
 */
final class CappedOutput implements Runnable {

    private final InputStream in;
    private final int limit;
    private final ByteArrayOutputStream kept = new ByteArrayOutputStream();
    private boolean truncated;

    CappedOutput(InputStream in, long limit) {
        this.in = in;
        this.limit = (int) Math.min(Integer.MAX_VALUE - 8, Math.max(0, limit));
    }

    @Override
    public void run() {
        byte[] buffer = new byte[8192];
        try (in) {
            int n;
            while ((n = in.read(buffer)) != -1) {
                synchronized (this) {
                    int room = limit - kept.size();
                    if (n > room) {
                        truncated = true;
                    }
                    if (room > 0) {
                        kept.write(buffer, 0, Math.min(n, room));
                    }
                }
            }
        } catch (IOException e) {
            // The stream was closed under us (process killed and reaped): keep what was read.
        }
    }

    synchronized byte[] bytes() {
        return kept.toByteArray();
    }

    synchronized boolean truncated() {
        return truncated;
    }
}
