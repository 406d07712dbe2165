package io.taskgrid.agent;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.Pipe;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Drains every running command's output pipes ({@link OsPipe}) on one thread, through a selector: a command costs no
 * thread of its own, however many run, and a pipe that some detached process holds open forever costs a selection
 * key, not a blocked thread. Each read is handed to its capture as it comes (no line buffering), which keeps live
 * output live; the capture's {@code onOutput} must not block (it only wakes the streamer).
 *
 * <p>Started on first use and kept for the life of the agent. When the thread cannot be had (the command's user, which
 * may be the agent's, has used up its processes), {@link #shared()} says so and commands fall back to a reader each.
 */
final class OutputPump {

    private static volatile OutputPump shared;

    /** One pipe being drained; {@link #ended} completes once it saw end of file or was closed under the pump. */
    static final class Drain {
        private final Pipe.SourceChannel source;
        private final StreamCapture capture;
        private final Runnable onOutput;
        final CompletableFuture<Void> ended = new CompletableFuture<>();

        private Drain(Pipe.SourceChannel source, StreamCapture capture, Runnable onOutput) {
            this.source = source;
            this.capture = capture;
            this.onOutput = onOutput;
        }
    }

    private final Selector selector;
    private final Queue<Drain> added = new ConcurrentLinkedQueue<>();
    /** Reused for every read: only the pump's thread reads. */
    private final ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);

    private OutputPump(Selector selector) {
        this.selector = selector;
    }

    /** The agent's pump, started on first use; null when it cannot be started (no thread or descriptor left). */
    static OutputPump shared() {
        OutputPump pump = shared;
        if (pump != null) {
            return pump;
        }
        synchronized (OutputPump.class) {
            if (shared == null) {
                Selector selector = null;
                try {
                    selector = Selector.open();
                    OutputPump started = new OutputPump(selector);
                    Thread thread = new Thread(started::loop, "output-pump");
                    thread.setDaemon(true);
                    thread.start();
                    shared = started;
                } catch (IOException | OutOfMemoryError e) {
                    closeQuietly(selector);
                    return null;
                }
            }
            return shared;
        }
    }

    /**
     * Drains {@code source} into {@code capture} until its end; {@code source} is switched to non-blocking mode and
     * closed by the pump at the end. Closing it from another thread ends the drain too (see {@link #release}).
     */
    Drain drain(Pipe.SourceChannel source, StreamCapture capture, Runnable onOutput) throws IOException {
        source.configureBlocking(false);
        Drain drain = new Drain(source, capture, onOutput);
        added.add(drain);
        selector.wakeup();
        return drain;
    }

    /**
     * Closes a drain's pipe from outside (output cut off): its key goes at the pump's next turn, which this brings
     * about at once so that the descriptor is freed now, not at the next output of some other command.
     */
    void release(Drain drain) {
        closeQuietly(drain.source);
        drain.ended.complete(null);
        selector.wakeup();
    }

    private void loop() {
        while (true) {
            try {
                selector.select();
                Drain drain;
                while ((drain = added.poll()) != null) {
                    try {
                        drain.source.register(selector, SelectionKey.OP_READ, drain);
                    } catch (IOException | RuntimeException e) {
                        // closed before it was registered (released, or never used): nothing more to read
                        closeQuietly(drain.source);
                        drain.ended.complete(null);
                    }
                }
                for (SelectionKey key : selector.selectedKeys()) {
                    pump(key);
                }
                selector.selectedKeys().clear();
            } catch (ClosedSelectorException e) {
                return;
            } catch (IOException | RuntimeException e) {
                Log.warn("output pump: " + e);
            }
        }
    }

    /** Reads what is in the pipe now (until it would block), or ends the drain at end of file. */
    private void pump(SelectionKey key) {
        Drain drain = (Drain) key.attachment();
        boolean end = false;
        try {
            while (true) {
                buffer.clear();
                int n = drain.source.read(buffer);
                if (n > 0) {
                    if (drain.capture.append(buffer.array(), 0, n)) {
                        drain.onOutput.run();
                    }
                    if (n < buffer.capacity()) {
                        break; // most likely empty now: the next select says if not, without a read that finds nothing
                    }
                } else {
                    end = n < 0;
                    break;
                }
            }
        } catch (IOException | RuntimeException e) {
            // closed under us (output cut off): keep what was read
            end = true;
        }
        if (end || !key.isValid()) {
            key.cancel();
            closeQuietly(drain.source);
            drain.ended.complete(null);
        }
    }

    private static void closeQuietly(AutoCloseable closeable) {
        if (closeable != null) {
            try {
                closeable.close();
            } catch (Exception e) {
                // nothing to lose
            }
        }
    }
}
