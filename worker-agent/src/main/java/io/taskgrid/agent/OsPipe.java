package io.taskgrid.agent;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A pipe that carries a command's output to the agent, and that the agent can close whenever it chooses.
 *
 * <p>The pipes of {@link Process} cannot be: a thread blocked reading {@link Process#getInputStream()} stays blocked
 * until every process holding the other end has closed it, and closing the stream does not wake it. A process that
 * left the command's tree with its stdout (a {@code setsid cmd &} whose parents exit) would hold a reader thread, and
 * the capture it fills, for as long as it lives. This is a {@link java.nio.channels.Pipe} instead, whose source
 * channel is interruptible: closing it wakes a reader at once. The command gets the other end through
 * {@link #path()}, {@code /proc/self/fd/N}, which {@link ProcessBuilder.Redirect#to} opens in this JVM before the
 * process starts (Linux opens the pipe itself through that link).
 *
 * <p>The JDK does not tell which file descriptor a channel has, so {@link #open} finds it: the one pipe that appeared in
 * {@code /proc/self/fd} while it made this one (pipes are made one at a time here), confirmed by a few random bytes
 * written through the path and read back from the channel. Where that cannot be done ({@link #usable()} false: no
 * /proc), commands use the JDK's pipes as before.
 */
final class OsPipe implements AutoCloseable {

    private static final Path SELF_FD = Path.of("/proc/self/fd");
    private static final boolean USABLE = Files.isDirectory(SELF_FD);
    private static final SecureRandom RANDOM = new SecureRandom();
    /** The look at /proc/self/fd before and after a pipe is made must not see another pipe of ours being made. */
    private static final Object MAKING = new Object();

    private final Pipe pipe;
    private final File path;

    private OsPipe(Pipe pipe, int fd) {
        this.pipe = pipe;
        this.path = new File(SELF_FD.toFile(), Integer.toString(fd));
    }

    /** Whether pipes of this kind can be made here (Linux, with /proc). */
    static boolean usable() {
        return USABLE;
    }

    /**
     * A new pipe, its source channel in blocking mode.
     *
     * @throws IOException when no pipe can be made (no file descriptor left: EMFILE, ENFILE) or it cannot be found in
     *                     /proc/self/fd
     */
    static OsPipe open() throws IOException {
        synchronized (MAKING) {
            for (int attempt = 0; attempt < 8; attempt++) {
                Map<Integer, String> before = pipeDescriptors();
                Pipe pipe = Pipe.open();
                boolean kept = false;
                try {
                    Map<String, List<Integer>> fresh = new HashMap<>();
                    pipeDescriptors().forEach((fd, target) -> {
                        if (!target.equals(before.get(fd))) {
                            fresh.computeIfAbsent(target, t -> new ArrayList<>()).add(fd);
                        }
                    });
                    List<List<Integer>> whole = fresh.values().stream().filter(fds -> fds.size() == 2).toList();
                    if (whole.size() == 1 && confirm(pipe, whole.get(0).get(0))) {
                        kept = true;
                        return new OsPipe(pipe, whole.get(0).get(0));
                    }
                } finally {
                    if (!kept) {
                        pipe.source().close();
                        pipe.sink().close();
                    }
                }
            }
            throw new IOException("could not find the file descriptor of a new pipe in " + SELF_FD);
        }
    }

    /** What /proc/self/fd/N links to, for every N that is a pipe. */
    private static Map<Integer, String> pipeDescriptors() throws IOException {
        Map<Integer, String> pipes = new HashMap<>();
        try (DirectoryStream<Path> descriptors = Files.newDirectoryStream(SELF_FD)) {
            for (Path descriptor : descriptors) {
                try {
                    String target = Files.readSymbolicLink(descriptor).toString();
                    if (target.startsWith("pipe:")) {
                        pipes.put(Integer.parseInt(descriptor.getFileName().toString()), target);
                    }
                } catch (IOException | NumberFormatException e) {
                    // closed while we looked (among them, the one the directory stream itself holds)
                }
            }
        }
        return pipes;
    }

    /** Whether bytes written through /proc/self/fd/{@code fd} come out of {@code pipe}: then that is its descriptor. */
    private static boolean confirm(Pipe pipe, int fd) throws IOException {
        byte[] probe = new byte[16];
        RANDOM.nextBytes(probe);
        try (FileOutputStream out = new FileOutputStream(new File(SELF_FD.toFile(), Integer.toString(fd)))) {
            out.write(probe);
        }
        ByteBuffer read = ByteBuffer.allocate(probe.length + 1);
        pipe.source().configureBlocking(false);
        try {
            while (pipe.source().read(read) > 0) {
                // a pipe hands 16 bytes written at once over at once; the loop only guards against a short read
            }
        } finally {
            pipe.source().configureBlocking(true);
        }
        return read.position() == probe.length && ByteBuffer.wrap(probe).equals(read.flip());
    }

    /** {@code /proc/self/fd/N}: opened, the pipe (either end, as the opening asks); valid while this pipe is open. */
    File path() {
        return path;
    }

    Pipe.SourceChannel source() {
        return pipe.source();
    }

    Pipe.SinkChannel sink() {
        return pipe.sink();
    }

    /** Closes this JVM's writing end, once the command has its own: the reader then sees the end when it is done. */
    void closeSink() {
        try {
            pipe.sink().close();
        } catch (IOException e) {
            // nothing to lose
        }
    }

    /** Closes both ends; a thread blocked reading the source returns at once (AsynchronousCloseException). */
    @Override
    public void close() {
        closeSink();
        try {
            pipe.source().close();
        } catch (IOException e) {
            // nothing to lose
        }
    }
}
