package io.taskgrid.it;

import io.taskgrid.it.bench.RawHttp;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

/**
 * Hundreds of thousands of hand-written HTTP/1.1 requests in seconds, from a client that leaves most of the machine's
 * two cores to the master: a few keep-alive connections, each sending its requests in pipelined batches (one write
 * per batch) and reading the answers back in order. The requests are raw bytes because many of those worth sending
 * are ones a real client library refuses to write (a Host with a space, a path with a bad percent escape, a method
 * that does not exist). Where the server closes a connection after an answer (as it does after a malformed request),
 * the requests of the batch it did not answer go again on a new connection.
 */
final class PipelinedHttp {

    /** How many answers came back with each status. */
    record Tally(Map<Integer, Long> statuses, long connections) {
        long total() {
            return statuses.values().stream().mapToLong(Long::longValue).sum();
        }
    }

    private final String host;
    private final int port;

    PipelinedHttp(String host, int port) {
        this.host = host;
        this.port = port;
    }

    /**
     * Sends requests {@code 0 .. count-1} (made by {@code request}) over {@code connections} connections, {@code batch}
     * at a time on each, and waits for every answer.
     */
    Tally send(int count, int connections, int batch, IntFunction<byte[]> request) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(connections);
        try {
            List<Future<Tally>> parts = new ArrayList<>();
            for (int c = 0; c < connections; c++) {
                int first = c;
                parts.add(pool.submit(() -> sendShare(first, connections, count, batch, request)));
            }
            Map<Integer, Long> statuses = new TreeMap<>();
            long opened = 0;
            for (Future<Tally> part : parts) {
                Tally tally = part.get(10, TimeUnit.MINUTES);
                tally.statuses().forEach((status, n) -> statuses.merge(status, n, Long::sum));
                opened += tally.connections();
            }
            return new Tally(statuses, opened);
        } finally {
            pool.shutdownNow();
        }
    }

    /** Requests {@code first}, {@code first + step}, ... on one connection at a time. */
    private Tally sendShare(int first, int step, int count, int batch, IntFunction<byte[]> request) throws IOException {
        Map<Integer, Long> statuses = new TreeMap<>();
        long opened = 0;
        int next = first;
        Connection connection = null;
        int failures = 0;
        // Pipelining is wasted on a server that closes after each answer: the batch shrinks to what it answers.
        int size = batch;
        try {
            while (next < count) {
                if (connection == null) {
                    connection = new Connection();
                    opened++;
                }
                List<Integer> sent = new ArrayList<>();
                List<Boolean> heads = new ArrayList<>();
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                for (int i = next; i < count && sent.size() < size; i += step) {
                    byte[] bytes = request.apply(i);
                    out.writeBytes(bytes);
                    sent.add(i);
                    heads.add(new String(bytes, 0, 5, StandardCharsets.ISO_8859_1).equals("HEAD "));
                }
                int answered = 0;
                boolean closed = false;
                try {
                    connection.out.write(out.toByteArray());
                    connection.out.flush();
                    while (answered < sent.size() && !closed) {
                        Answer answer = connection.read(heads.get(answered));
                        statuses.merge(answer.status(), 1L, Long::sum);
                        answered++;
                        closed = answer.closes();
                    }
                } catch (IOException e) {
                    // A connection the server closed with requests unanswered: they go again on a new one, unless
                    // nothing at all gets through any more.
                    closed = true;
                    if (answered == 0 && ++failures > 100) {
                        throw new IOException("the server answers nothing on new connections any more", e);
                    }
                }
                if (answered > 0) {
                    failures = 0;
                }
                if (closed) {
                    size = Math.max(1, Math.min(size, answered));
                    connection.close();
                    connection = null;
                }
                next = answered < sent.size() ? sent.get(answered) : sent.get(sent.size() - 1) + step;
            }
        } finally {
            if (connection != null) {
                connection.close();
            }
        }
        return new Tally(statuses, opened);
    }

    private record Answer(int status, boolean closes) {
    }

    /** One connection; reads answers by Content-Length or chunks, or up to the end when the server closes. */
    private final class Connection {
        private final Socket socket = new Socket();
        private final InputStream in;
        private final OutputStream out;

        Connection() throws IOException {
            socket.setTcpNoDelay(true);
            socket.connect(new InetSocketAddress(host, port), 10_000);
            socket.setSoTimeout(60_000);
            in = new BufferedInputStream(socket.getInputStream(), 64 * 1024);
            out = socket.getOutputStream();
        }

        Answer read(boolean head) throws IOException {
            String statusLine = line();
            if (statusLine == null) {
                throw new IOException("closed before an answer");
            }
            String[] parts = statusLine.split(" ", 3);
            if (!statusLine.startsWith("HTTP/") || parts.length < 2 || !parts[1].matches("[0-9]{3}")) {
                throw new IOException("not an HTTP answer: " + statusLine);
            }
            int status = Integer.parseInt(parts[1]);
            long length = -1;
            boolean chunked = false;
            boolean close = statusLine.startsWith("HTTP/1.0");
            String header;
            while ((header = line()) != null && !header.isEmpty()) {
                int colon = header.indexOf(':');
                if (colon < 0) {
                    continue;
                }
                String name = header.substring(0, colon).trim();
                String value = header.substring(colon + 1).trim();
                if (name.equalsIgnoreCase("Content-Length")) {
                    length = Long.parseLong(value);
                } else if (name.equalsIgnoreCase("Transfer-Encoding")) {
                    chunked = value.equalsIgnoreCase("chunked");
                } else if (name.equalsIgnoreCase("Connection")) {
                    close = value.equalsIgnoreCase("close");
                }
            }
            if (head || status == 204 || status == 304 || status < 200) {
                return new Answer(status, close);
            }
            if (chunked) {
                long size;
                while ((size = Long.parseLong(line().split(";", 2)[0].trim(), 16)) > 0) {
                    in.skipNBytes(size);
                    line();
                }
                while (!line().isEmpty()) {
                    // trailers
                }
            } else if (length >= 0) {
                in.skipNBytes(length);
            } else {
                in.transferTo(OutputStream.nullOutputStream());
                close = true;
            }
            return new Answer(status, close);
        }

        private String line() throws IOException {
            return RawHttp.readLine(in);
        }

        void close() {
            try {
                socket.close();
            } catch (IOException e) {
                // gone already
            }
        }
    }
}
