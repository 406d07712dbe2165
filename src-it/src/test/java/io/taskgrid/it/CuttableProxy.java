package io.taskgrid.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.HashSet;
import java.util.Set;

/**
 * A TCP proxy on a loopback port to a port of this machine, which a test cuts and restores: for a master out of reach
 * of one agent only, while the API and every other agent still reach it. A cut closes the listener and every live
 * connection, so both ends see the connection go (the master drops the agent at once and starts its lostAfter) and
 * the agent's reconnects are refused until {@link #restore()} listens again on the same port.
 */
final class CuttableProxy implements AutoCloseable {

    private final int target;
    private final Object lock = new Object();
    /** The listener while open; null while cut. Guarded by lock. */
    private ServerSocket listener;
    /** Both sockets of every live connection. Guarded by lock. */
    private final Set<Socket> live = new HashSet<>();
    private int port;

    private CuttableProxy(int target) {
        this.target = target;
    }

    /** A proxy to {@code targetPort} on this machine, listening on a free port. */
    static CuttableProxy to(int targetPort) throws IOException {
        CuttableProxy proxy = new CuttableProxy(targetPort);
        proxy.listen(0);
        return proxy;
    }

    int port() {
        return port;
    }

    /** Closes the listener and every live connection. */
    void cut() {
        synchronized (lock) {
            closeQuietly(listener);
            listener = null;
            live.forEach(CuttableProxy::closeQuietly);
            live.clear();
        }
    }

    /** Listens again, on the same port. */
    void restore() throws IOException {
        listen(port);
    }

    @Override
    public void close() {
        cut();
    }

    private void listen(int onPort) throws IOException {
        ServerSocket socket = new ServerSocket();
        socket.setReuseAddress(true);
        socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), onPort));
        synchronized (lock) {
            listener = socket;
            port = socket.getLocalPort();
        }
        daemon("proxy-accept-" + port, () -> accept(socket));
    }

    private void accept(ServerSocket socket) {
        while (true) {
            Socket client;
            try {
                client = socket.accept();
            } catch (IOException e) {
                return; // cut
            }
            Socket upstream;
            try {
                upstream = new Socket(InetAddress.getLoopbackAddress(), target);
            } catch (IOException e) {
                closeQuietly(client);
                continue;
            }
            synchronized (lock) {
                if (listener != socket) {
                    // cut while this one was being accepted: it goes with the rest
                    closeQuietly(client);
                    closeQuietly(upstream);
                    return;
                }
                live.add(client);
                live.add(upstream);
            }
            daemon("proxy-up-" + client.getPort(), () -> pump(client, upstream));
            daemon("proxy-down-" + client.getPort(), () -> pump(upstream, client));
        }
    }

    /** Copies one direction; when either end goes, the whole connection goes, as a cut network would take it. */
    private void pump(Socket from, Socket to) {
        byte[] buffer = new byte[16 * 1024];
        try {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            int n;
            while ((n = in.read(buffer)) >= 0) {
                out.write(buffer, 0, n);
                out.flush();
            }
        } catch (IOException e) {
            // closed by a cut or by either end
        } finally {
            synchronized (lock) {
                live.remove(from);
                live.remove(to);
            }
            closeQuietly(from);
            closeQuietly(to);
        }
    }

    private static void daemon(String name, Runnable body) {
        Thread thread = new Thread(body, name);
        thread.setDaemon(true);
        thread.start();
    }

    private static void closeQuietly(AutoCloseable closeable) {
        if (closeable == null) {
            return;
        }
        try {
            closeable.close();
        } catch (Exception e) {
            // already closed
        }
    }
}
