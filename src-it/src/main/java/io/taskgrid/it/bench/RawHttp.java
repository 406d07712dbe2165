package io.taskgrid.it.bench;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * One keep-alive HTTP/1.1 connection, as lean as a load generator needs to be: the benchmark shares the machine's two
 * cores with the master and the agents, and java.net.http spends several times the CPU per request of this.
 * Understands Content-Length and chunked responses; nothing else (no redirects, no TLS).
 */
public final class RawHttp implements AutoCloseable {

    /** A response: status and body. */
    record Response(int status, String body) {
    }

    /** The largest response body taken; past it the answer is not one the benchmark asked for. */
    private static final long MAX_BODY_BYTES = 64L * 1024 * 1024;
    /** The longest line of a response head taken. */
    private static final int MAX_LINE_CHARS = 16 * 1024;

    private final String host;
    private final int port;
    private final String authorization;
    private Socket socket;
    private InputStream in;
    private OutputStream out;

    RawHttp(String host, int port, String token) {
        this.host = host;
        this.port = port;
        this.authorization = token == null ? "" : "Authorization: Bearer " + token + "\r\n";
    }

    /**
     * A POST without an Idempotency-Key: sent once, never again. A connection that breaks after the request went out
     * leaves it unknown whether the master took it, and sending it again could create the task twice; the caller sees
     * the IOException and counts it.
     */
    Response post(String path, String json) throws IOException {
        return exchange(postHead(path, json, null), json.getBytes(StandardCharsets.UTF_8), false);
    }

    /**
     * A POST with an Idempotency-Key: the master answers a repeat with the task the first one created, so one retry
     * on a fresh connection (the server may have closed an idle keep-alive one) is safe.
     */
    Response post(String path, String json, String idempotencyKey) throws IOException {
        if (idempotencyKey == null || idempotencyKey.isEmpty()) {
            throw new IllegalArgumentException("an Idempotency-Key is required for a POST that may be sent again");
        }
        return exchange(postHead(path, json, idempotencyKey), json.getBytes(StandardCharsets.UTF_8), true);
    }

    Response get(String path) throws IOException {
        return exchange("GET " + path + " HTTP/1.1\r\nHost: " + host + ":" + port + "\r\n" + authorization + "\r\n",
                new byte[0], true);
    }

    Response delete(String path) throws IOException {
        return exchange("DELETE " + path + " HTTP/1.1\r\nHost: " + host + ":" + port + "\r\n" + authorization
                + "\r\n", new byte[0], true);
    }

    private String postHead(String path, String json, String idempotencyKey) {
        return "POST " + path + " HTTP/1.1\r\nHost: " + host + ":" + port + "\r\n" + authorization
                + (idempotencyKey == null ? "" : "Idempotency-Key: " + idempotencyKey + "\r\n")
                + "Content-Type: application/json\r\nContent-Length: "
                + json.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n";
    }

    /** Sends and reads one exchange; {@code retry}: once more on a fresh connection after an I/O failure. */
    private Response exchange(String head, byte[] body, boolean retry) throws IOException {
        for (int attempt = 0; ; attempt++) {
            try {
                connect();
                out.write(head.getBytes(StandardCharsets.US_ASCII));
                out.write(body);
                out.flush();
                return read();
            } catch (IOException e) {
                close();
                if (!retry || attempt > 0) {
                    throw e;
                }
                // the server closed an idle keep-alive connection: once more on a fresh one
            }
        }
    }

    private void connect() throws IOException {
        if (socket == null) {
            socket = new Socket();
            socket.setTcpNoDelay(true);
            socket.connect(new InetSocketAddress(host, port), 5000);
            socket.setSoTimeout(60_000);
            in = new BufferedInputStream(socket.getInputStream(), 16 * 1024);
            out = socket.getOutputStream();
        }
    }

    private Response read() throws IOException {
        String status = line();
        if (status == null) {
            throw new IOException("connection closed");
        }
        if (status.length() < 12 || !status.startsWith("HTTP/1.")) {
            throw new IOException("not an HTTP/1.x status line: " + status);
        }
        int code;
        try {
            code = Integer.parseInt(status.substring(9, 12));
        } catch (NumberFormatException e) {
            throw new IOException("not an HTTP/1.x status line: " + status, e);
        }
        long length = -1;
        boolean chunked = false;
        boolean close = false;
        String header;
        while ((header = line()) != null && !header.isEmpty()) {
            int colon = header.indexOf(':');
            if (colon <= 0) {
                throw new IOException("not a header line: " + header);
            }
            String name = header.substring(0, colon).trim();
            String value = header.substring(colon + 1).trim();
            if (name.equalsIgnoreCase("Content-Length")) {
                try {
                    length = Long.parseLong(value);
                } catch (NumberFormatException e) {
                    throw new IOException("Content-Length " + value, e);
                }
            } else if (name.equalsIgnoreCase("Transfer-Encoding") && value.equalsIgnoreCase("chunked")) {
                chunked = true;
            } else if (name.equalsIgnoreCase("Connection") && value.equalsIgnoreCase("close")) {
                close = true;
            }
        }
        ByteArrayOutputStream content = new ByteArrayOutputStream();
        if (chunked) {
            while (true) {
                int size = Integer.parseInt(line().split(";")[0].trim(), 16);
                if (size < 0 || content.size() + (long) size > MAX_BODY_BYTES) {
                    throw new IOException("a chunked response over " + MAX_BODY_BYTES + " bytes");
                }
                if (size == 0) {
                    while (!line().isEmpty()) {
                        // trailers
                    }
                    break;
                }
                content.write(in.readNBytes(size));
                line();
            }
        } else if (length > MAX_BODY_BYTES) {
            throw new IOException("a response of " + length + " bytes, over " + MAX_BODY_BYTES);
        } else if (length >= 0) {
            content.write(in.readNBytes((int) length));
        }
        if (close) {
            close();
        }
        return new Response(code, content.toString(StandardCharsets.UTF_8));
    }

    private String line() throws IOException {
        return readLine(in);
    }

    /** One line of an HTTP/1.1 head, without its CRLF (or LF); null at the end of the stream. */
    public static String readLine(InputStream in) throws IOException {
        StringBuilder text = new StringBuilder();
        int c;
        while ((c = in.read()) != -1) {
            if (c == '\n') {
                int end = text.length();
                return end > 0 && text.charAt(end - 1) == '\r' ? text.substring(0, end - 1) : text.toString();
            }
            if (text.length() >= MAX_LINE_CHARS) {
                throw new IOException("a line of a response head over " + MAX_LINE_CHARS + " characters");
            }
            text.append((char) c);
        }
        return text.length() == 0 ? null : text.toString();
    }

    @Override
    public void close() {
        if (socket != null) {
            try {
                socket.close();
            } catch (IOException e) {
                // gone already
            }
            socket = null;
        }
    }
}
