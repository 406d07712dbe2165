package io.taskgrid.agent;

import io.taskgrid.proto.WorkerLimits;
import io.taskgrid.proto.v1.StatusReport;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The agent's state directory, held for the agent's whole life: its outbox, the lock that keeps other agents out, and
 * the worker id the agent runs under.
 *
 * <p>The id lives here because the master takes a stored result only from the worker id its attempt was handed to. An
 * agent that named itself anew at each start could never deliver what it had stored before a restart, and those tasks
 * ran again once the master gave them up. So an agent started without {@code --id} takes the id kept here, chosen at
 * its first start: the directory, not the process, is the worker.
 *
 * <p>The lock is the kernel's (fcntl, through {@link FileChannel#tryLock()}) on a file in the directory, so it goes
 * with the process however that ends, SIGKILL included: no stale lock to clear by hand. Two agents on one directory
 * would register under one id and deliver, claim and delete each other's results.
 */
final class StateDirectory implements AutoCloseable {

    static final String LOCK_FILE = "agent.lock";
    static final String WORKER_ID_FILE = "worker-id";
    /** More than any pid or worker id and its line end; what a file holds beyond it is not read. */
    private static final int MAX_SMALL_FILE_BYTES = 128;

    /**
     * The lock channels of this JVM, by real directory path. A second channel on a locked file must never be opened
     * here: on Linux, closing any descriptor of a file releases every lock the process holds on it. Holding them here
     * also keeps them reachable: a channel the garbage collector takes is closed, and its lock released with it.
     */
    private static final Map<Path, FileChannel> HELD = new ConcurrentHashMap<>();

    private final Path dir;
    private final Path realDir;
    private final Outbox outbox;

    private StateDirectory(Path dir, Path realDir, Outbox outbox) {
        this.dir = dir;
        this.realDir = realDir;
        this.outbox = outbox;
    }

    /**
     * Makes or checks the directory (see {@link Outbox}) and locks it for this agent.
     *
     * @throws UnusableStateDirectory if it cannot be made or used, or another agent holds it
     */
    static StateDirectory open(Path dir) {
        Outbox outbox = new Outbox(dir);
        Path realDir;
        try {
            realDir = dir.toRealPath();
        } catch (IOException e) {
            throw new UnusableStateDirectory("cannot resolve the state directory " + dir + ": " + e.getMessage());
        }
        synchronized (HELD) {
            if (HELD.containsKey(realDir)) {
                throw new UnusableStateDirectory(inUse(dir, Optional.of(ProcessHandle.current().pid())));
            }
            HELD.put(realDir, lock(dir));
        }
        return new StateDirectory(dir, realDir, outbox);
    }

    private static FileChannel lock(Path dir) {
        Path file = dir.resolve(LOCK_FILE);
        FileChannel channel;
        try {
            channel = FileChannel.open(file, Set.<OpenOption>of(StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (IOException e) {
            throw new UnusableStateDirectory("cannot open the lock file " + file + ": " + e.getMessage());
        }
        try {
            FileLock lock = channel.tryLock();
            if (lock == null) {
                Optional<Long> holder = pidIn(channel);
                channel.close();
                throw new UnusableStateDirectory(inUse(dir, holder));
            }
            // For the message of the next agent that tries; the lock, not this number, is what keeps it out.
            byte[] pid = (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
            channel.truncate(0);
            channel.write(ByteBuffer.wrap(pid), 0);
            return channel;
        } catch (IOException e) {
            closeQuietly(channel);
            throw new UnusableStateDirectory("cannot lock " + file + ": " + e.getMessage());
        }
    }

    /** The pid the lock file names, if it names one: another agent writes its own once it holds the lock. */
    private static Optional<Long> pidIn(FileChannel channel) throws IOException {
        ByteBuffer bytes = ByteBuffer.allocate(MAX_SMALL_FILE_BYTES);
        channel.read(bytes, 0);
        String text = new String(bytes.array(), 0, bytes.position(), StandardCharsets.US_ASCII).strip();
        return text.matches("[0-9]{1,10}") ? Optional.of(Long.parseLong(text)) : Optional.empty();
    }

    private static String inUse(Path dir, Optional<Long> holder) {
        return "the state directory " + dir + " is in use by another agent"
                + holder.map(pid -> " (pid " + pid + ")").orElse("") + ": two agents on one directory would deliver, "
                + "claim and delete each other's results; stop that one, or give this one a --state-dir of its own";
    }

    Path dir() {
        return dir;
    }

    Outbox outbox() {
        return outbox;
    }

    /**
     * The worker id this agent runs under, kept here from now on: {@code given} ({@code --id}) if not null; else the
     * id kept here; else, in a directory of an agent that kept no id, the one its waiting results name; else a new
     * one.
     *
     * <p>Results waiting here can only be delivered under the worker id they were run as, so a directory holding
     * results of another id is refused rather than taken over (the master would refuse them, and they would be
     * dropped). A directory whose earlier worker left nothing to deliver passes to {@code given}.
     *
     * @throws UnusableStateDirectory if results of another worker id wait here, or the id file is unreadable
     */
    String workerId(String given) {
        Optional<String> kept = keptWorkerId();
        Map<String, Integer> waiting = new TreeMap<>();
        for (StatusReport report : outbox.pending()) {
            if (WorkerLimits.isWorkerId(report.getWorkerId())) {
                waiting.merge(report.getWorkerId(), 1, Integer::sum);
            }
        }
        String id = given != null ? given
                : kept.orElseGet(() -> waiting.size() == 1 ? waiting.keySet().iterator().next() : newWorkerId());
        waiting.forEach((other, count) -> {
            if (!other.equals(id)) {
                throw new UnusableStateDirectory("the state directory " + dir + " holds " + count + " result(s) of "
                        + "worker " + other + " not yet delivered, which the master takes only from that worker: "
                        + "start the agent on it once with --id " + other + ", or give this one (" + id + ") a "
                        + "--state-dir of its own");
            }
        });
        if (!kept.equals(Optional.of(id))) {
            keep(id);
            kept.ifPresent(previous -> Log.warn("the state directory " + dir + " was worker " + previous + "'s, "
                    + "which left nothing to deliver; it is worker " + id + "'s from now on"));
        }
        return id;
    }

    private Optional<String> keptWorkerId() {
        Path file = dir.resolve(WORKER_ID_FILE);
        if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
            return Optional.empty();
        }
        if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
            // A FIFO would hang the read for good, a device or a link would read something that is not ours.
            throw new UnusableStateDirectory("the worker id file " + file + " is not a regular file (a symbolic link, "
                    + "a pipe or a device is not accepted): remove it, and the agent writes a new one");
        }
        String text;
        try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
            text = new String(in.readNBytes(MAX_SMALL_FILE_BYTES), StandardCharsets.US_ASCII).strip();
        } catch (IOException e) {
            throw new UnusableStateDirectory("cannot read the worker id file " + file + " (a symbolic link is not "
                    + "accepted either): " + e.getMessage());
        }
        if (!WorkerLimits.isWorkerId(text)) {
            throw new UnusableStateDirectory("the worker id file " + file + " holds no worker id (1 to "
                    + WorkerLimits.MAX_WORKER_ID_LENGTH + " of A-Z a-z 0-9 . _ -): write this worker's id into it, "
                    + "or remove it to have the agent take the id of the results waiting there, or a new one");
        }
        return Optional.of(text);
    }

    /** Writes the id aside, then renames it into place: a crash leaves the old id or the new one, never half. */
    private void keep(String id) {
        Path file = dir.resolve(WORKER_ID_FILE);
        Path temp = dir.resolve(WORKER_ID_FILE + ".tmp");
        try {
            Files.deleteIfExists(temp);
            // Written through the channel that made the file, never reopened by name: nothing can be swapped in
            // between; and on the disk before the rename.
            try (FileChannel out = FileChannel.open(temp, Set.<OpenOption>of(StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")))) {
                out.write(ByteBuffer.wrap((id + "\n").getBytes(StandardCharsets.US_ASCII)));
                out.force(true);
            }
            try {
                Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new UnusableStateDirectory("cannot write the worker id file " + file + ": " + e.getMessage());
        }
    }

    /** A new worker id: this host's name, cut to fit, and a random suffix, so that hosts of one name stay apart. */
    static String newWorkerId() {
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            host = "worker";
        }
        host = host.replaceAll("[^A-Za-z0-9._-]", "-");
        if (host.length() > 48) {
            host = host.substring(0, 48);
        }
        return host + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /** Lets another agent have the directory; the process's end does the same. */
    @Override
    public void close() {
        synchronized (HELD) {
            FileChannel channel = HELD.remove(realDir);
            if (channel != null) {
                closeQuietly(channel);
            }
        }
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException e) {
            Log.warn("could not close a lock file: " + e.getMessage());
        }
    }
}
