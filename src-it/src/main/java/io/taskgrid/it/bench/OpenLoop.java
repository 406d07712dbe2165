package io.taskgrid.it.bench;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * Submissions at a fixed offered rate, whatever the master answers: request i is due at {@code start + i / rate}, and
 * its latency counts from that moment, not from when a connection was free to send it. A closed loop (each client
 * sends its next request when the last one is answered) slows down with the master and so hides exactly the slow
 * answers a user would see (coordinated omission); this does not.
 *
 * <p>{@code connections} keep-alive connections take the due requests in turn. Requests still unsent when the window
 * is over by half again are not sent; each counts as unsent with the time it had waited by then as its latency, so a
 * saturated master shows in p99 instead of vanishing from it.
 */
final class OpenLoop {

    /** What one offered rate gave. Latencies in ms, sorted, unsent ones included with their wait. */
    record Result(double offeredPerSecond, long sent, long accepted, long errors, long unsent, double seconds,
                  double[] latenciesMs) {
        double achievedPerSecond() {
            return accepted / seconds;
        }

        double p50() {
            return Benchmark.percentile(latenciesMs, 50);
        }

        double p99() {
            return Benchmark.percentile(latenciesMs, 99);
        }
    }

    private OpenLoop() {
    }

    /**
     * Offers {@code rate} submissions of {@code body} a second for {@code seconds} over {@code connections} connections
     * from {@code connect}. A 202 is accepted; any other answer or a broken connection is an error (the request is not
     * sent again: it carries no Idempotency-Key).
     */
    static Result run(Supplier<RawHttp> connect, String body, double rate, double seconds, int connections)
            throws Exception {
        long total = (long) (rate * seconds);
        long intervalNanos = (long) (1e9 / rate);
        long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(50);
        long giveUp = start + (long) (seconds * 1.5e9);
        AtomicLong next = new AtomicLong();
        AtomicLong accepted = new AtomicLong();
        AtomicLong errors = new AtomicLong();
        AtomicLong sent = new AtomicLong();
        AtomicLong lastAnswer = new AtomicLong(start);
        ConcurrentLinkedQueue<long[]> latencies = new ConcurrentLinkedQueue<>();
        ExecutorService pool = Executors.newFixedThreadPool(connections);
        List<Future<?>> running = new ArrayList<>();
        for (int c = 0; c < connections; c++) {
            running.add(pool.submit(() -> {
                long[] mine = new long[(int) Math.min(1 << 20, total)];
                int n = 0;
                RawHttp http = connect.get();
                try {
                    while (n < mine.length) {
                        long i = next.getAndIncrement();
                        if (i >= total) {
                            break;
                        }
                        long due = start + i * intervalNanos;
                        long now = System.nanoTime();
                        if (now > giveUp) {
                            break;
                        }
                        if (due > now) {
                            TimeUnit.NANOSECONDS.sleep(due - now);
                        }
                        sent.incrementAndGet();
                        try {
                            RawHttp.Response response = http.post("/tasks", body);
                            if (response.status() == 202) {
                                accepted.incrementAndGet();
                            } else {
                                errors.incrementAndGet();
                            }
                        } catch (IOException e) {
                            errors.incrementAndGet();
                            http.close();   // the next request opens a fresh connection
                        }
                        long answered = System.nanoTime();
                        lastAnswer.accumulateAndGet(answered, Math::max);
                        mine[n++] = answered - due;
                    }
                } finally {
                    http.close();
                    latencies.add(Arrays.copyOf(mine, n));
                }
                return null;
            }));
        }
        for (Future<?> f : running) {
            f.get();
        }
        pool.shutdown();
        long end = Math.max(lastAnswer.get(), start + (long) (seconds * 1e9));
        // What was due and never sent waited from its due time until the run gave up on it.
        long unsent = Math.max(0, total - sent.get());
        long[] waits = new long[(int) unsent];
        long firstUnsent = sent.get();
        for (int k = 0; k < unsent; k++) {
            waits[k] = Math.max(0, end - (start + (firstUnsent + k) * intervalNanos));
        }
        latencies.add(waits);
        double[] ms = latencies.stream().flatMapToLong(Arrays::stream).mapToDouble(v -> v / 1e6).sorted().toArray();
        return new Result(rate, sent.get(), accepted.get(), errors.get(), unsent, (end - start) / 1e9, ms);
    }
}
