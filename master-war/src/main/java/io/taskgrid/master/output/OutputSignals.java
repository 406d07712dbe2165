package io.taskgrid.master.output;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Wakes the followers of a task when its output grew or it ended, so that they read the table once per change instead
 * of polling it. Only tasks someone follows have an entry; a change of any other task costs a map lookup.
 */
public final class OutputSignals {

    private final Map<String, Signal> signals = new ConcurrentHashMap<>();

    /** One task's followers wait on this; {@code version} counts changes. */
    public static final class Signal {
        private long version;
        private int followers;

        /** The count of changes so far: pass it to {@link #await} to wait for the next one. */
        public synchronized long version() {
            return version;
        }

        /**
         * Waits until a change after {@code seen}, at most {@code timeoutMillis}.
         *
         * @return whether something changed
         */
        public synchronized boolean await(long seen, long timeoutMillis) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
            while (version == seen) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
            return true;
        }

        synchronized void bump() {
            version++;
            notifyAll();
        }
    }

    /** Registers a follower of the task; {@link #unfollow} it when done. */
    public Signal follow(String taskId) {
        return signals.compute(taskId, (id, signal) -> {
            Signal s = signal == null ? new Signal() : signal;
            synchronized (s) {
                s.followers++;
            }
            return s;
        });
    }

    public void unfollow(String taskId) {
        signals.computeIfPresent(taskId, (id, signal) -> {
            synchronized (signal) {
                signal.followers--;
                return signal.followers <= 0 ? null : signal;
            }
        });
    }

    /** The task's output grew, or the task changed state: its followers look again. */
    public void changed(String taskId) {
        Signal signal = signals.get(taskId);
        if (signal != null) {
            signal.bump();
        }
    }
}
