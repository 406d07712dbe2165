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
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

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
 * {@code /proc/self/fd} while it made this one (pipes are made one at a time here; usually found among the descriptor
 * numbers that were not there before, from two directory listings and a link or two), confirmed by a few random bytes
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
                // Quick: the descriptor numbers that were not there before (names only, no link read), which are
                // the pipe's two unless another thread opened or closed one meanwhile. Else: what every pipe
                // descriptor links to, before and after, which sees a number closed and taken again too.
                boolean quick = attempt % 2 == 0;
                Map<Integer, String> before = quick ? null : pipeDescriptors();
                Set<String> namesBefore = quick ? descriptorNames() : null;
                Pipe pipe = Pipe.open();
                boolean kept = false;
                try {
                    int fd = quick ? newPipe(namesBefore) : newPipe(before);
                    if (fd >= 0 && confirm(pipe, fd)) {
                        kept = true;
                        return new OsPipe(pipe, fd);
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

    /**
     * Two new pipes, found with one look at /proc/self/fd before and one after (what a command needs, for stdout and
     * stderr, at half the cost of two {@link #open}s, the look growing with the descriptors this JVM has open); each
     * confirmed as in {@link #open}. Falls back to two {@link #open}s where that does not tell them apart.
     */
    static OsPipe[] openTwo() throws IOException {
        synchronized (MAKING) {
            Set<String> before = descriptorNames();
            Pipe first = Pipe.open();
            Pipe second = null;
            boolean kept = false;
            try {
                second = Pipe.open();
                Map<String, Integer> fresh = new HashMap<>();
                for (String name : descriptorNames()) {
                    String target = before.contains(name) ? null : link(name);
                    if (target != null && target.startsWith("pipe:")) {
                        fresh.putIfAbsent(target, Integer.parseInt(name));
                    }
                }
                if (fresh.size() == 2) {
                    List<Integer> fds = new ArrayList<>(fresh.values());
                    Pipe[] pipes = {first, second};
                    int a = whichOf(pipes, fds.get(0));
                    if (a >= 0 && whichOf(pipes, fds.get(1)) == 1 - a) {
                        kept = true;
                        return a == 0 ? new OsPipe[] {new OsPipe(first, fds.get(0)), new OsPipe(second, fds.get(1))}
                                : new OsPipe[] {new OsPipe(first, fds.get(1)), new OsPipe(second, fds.get(0))};
                    }
                }
            } finally {
                if (!kept) {
                    first.source().close();
                    first.sink().close();
                    if (second != null) {
                        second.source().close();
                        second.sink().close();
                    }
                }
            }
        }
        OsPipe one = open();
        try {
            return new OsPipe[] {one, open()};
        } catch (IOException | RuntimeException e) {
            one.close();
            throw e;
        }
    }

    /**
     * A descriptor of the one pipe among the descriptor numbers that were not in {@code before}, or -1. Usually one of
     * the pipe's two is among them: the other may have the number that the listing before had for itself.
     */
    private static int newPipe(Set<String> before) throws IOException {
        String pipe = null;
        int fd = -1;
        for (String name : descriptorNames()) {
            String target = before.contains(name) ? null : link(name);
            if (target != null && target.startsWith("pipe:")) {
                if (pipe != null && !pipe.equals(target)) {
                    return -1;
                }
                pipe = target;
                fd = Integer.parseInt(name);
            }
        }
        return fd;
    }

    /** A descriptor of the one pipe that has two descriptors linking elsewhere than {@code before} did, or -1. */
    private static int newPipe(Map<Integer, String> before) throws IOException {
        Map<String, List<Integer>> fresh = new HashMap<>();
        pipeDescriptors().forEach((fd, target) -> {
            if (!target.equals(before.get(fd))) {
                fresh.computeIfAbsent(target, t -> new ArrayList<>()).add(fd);
            }
        });
        List<List<Integer>> whole = fresh.values().stream().filter(fds -> fds.size() == 2).toList();
        return whole.size() == 1 ? whole.get(0).get(0) : -1;
    }

    /** The names in /proc/self/fd: one directory read, no link followed. */
    private static Set<String> descriptorNames() throws IOException {
        String[] names = SELF_FD.toFile().list();
        if (names == null) {
            throw new IOException("cannot list " + SELF_FD);
        }
        return new HashSet<>(Arrays.asList(names));
    }

    private static String link(String fd) {
        try {
            return Files.readSymbolicLink(SELF_FD.resolve(fd)).toString();
        } catch (IOException | RuntimeException e) {
            return null;
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
        return whichOf(new Pipe[] {pipe}, fd) == 0;
    }

    /**
     * Which of {@code pipes} the bytes written through /proc/self/fd/{@code fd} come out of, or -1 when none of them
     * gives exactly those: then it is not one of theirs. Every pipe is read empty, so nothing of a probe stays behind.
     */
    private static int whichOf(Pipe[] pipes, int fd) throws IOException {
        byte[] probe = new byte[16];
        RANDOM.nextBytes(probe);
        try (FileOutputStream out = new FileOutputStream(new File(SELF_FD.toFile(), Integer.toString(fd)))) {
            out.write(probe);
        }
        int found = -1;
        for (int i = 0; i < pipes.length; i++) {
            ByteBuffer read = ByteBuffer.allocate(4096);
            pipes[i].source().configureBlocking(false);
            try {
                while (pipes[i].source().read(read) > 0 && read.hasRemaining()) {
                    // a pipe hands 16 bytes written at once over at once; the loop only guards against a short read
                }
            } finally {
                pipes[i].source().configureBlocking(true);
            }
            if (read.position() == probe.length && ByteBuffer.wrap(probe).equals(read.flip())) {
                found = i;
            }
        }
        return found;
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
