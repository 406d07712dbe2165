package io.taskgrid.it.bench;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * An HTTP/1.1 server of a few lines for the load generator's tests: reads each request's head and body, keeps the
 * heads, and answers as {@link Behaviour} says, one connection per thread.
 */
final class FakeHttpServer implements AutoCloseable {

    /** What the server does with the request numbered {@code n} (from 0, over all connections). */
    interface Behaviour {
        /** The status to answer, or -1 to close the connection without an answer. */
        int answer(int n) throws InterruptedException;
    }

    private final ServerSocket server;
    private final ExecutorService threads = Executors.newCachedThreadPool();
    final List<String> heads = new CopyOnWriteArrayList<>();

    FakeHttpServer(Behaviour behaviour) throws IOException {
        server = new ServerSocket(0, 200, InetAddress.getLoopbackAddress());
        threads.submit(() -> {
            while (!server.isClosed()) {
                Socket socket;
                try {
                    socket = server.accept();
                } catch (IOException e) {
                    return null;
                }
                threads.submit(() -> serve(socket, behaviour));
            }
            return null;
        });
    }

    int port() {
        return server.getLocalPort();
    }

    private Void serve(Socket socket, Behaviour behaviour) throws Exception {
        try (socket) {
            InputStream in = new BufferedInputStream(socket.getInputStream());
            OutputStream out = socket.getOutputStream();
            while (true) {
                StringBuilder head = new StringBuilder();
                int length = 0;
                String line;
                while ((line = RawHttp.readLine(in)) != null && !line.isEmpty()) {
                    head.append(line).append('\n');
                    if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                        length = Integer.parseInt(line.substring(15).trim());
                    }
                }
                if (line == null) {
                    return null;
                }
                in.readNBytes(length);
                int n;
                synchronized (heads) {
                    n = heads.size();
                    heads.add(head.toString());
                }
                int status = behaviour.answer(n);
                if (status < 0) {
                    return null;
                }
                String body = "{\"id\":\"t" + n + "\"}";
                out.write(("HTTP/1.1 " + status + " X\r\nContent-Length: " + body.length() + "\r\n\r\n" + body)
                        .getBytes(StandardCharsets.US_ASCII));
                out.flush();
            }
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
        threads.shutdownNow();
    }
}
