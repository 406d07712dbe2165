package io.taskgrid.master.task;

import io.taskgrid.master.config.WatchedFile;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.logging.Logger;
import java.util.regex.Pattern;

/**
 * The master's secret keys, in one file readable by its user only:
 *
 * <pre>
 * current=k2
 * k1=&lt;32 random bytes, base64&gt;
 * k2=&lt;32 random bytes, base64&gt;
 * </pre>
 *
 * The current key seals new values; every key in the file opens what it sealed. Ids are random ({@code k3f9a21c0}),
 * so that a file made afresh never names a key that values in the database name. The master makes the file with one
 * key at its first start; {@link #addKey()} (an operator's {@code POST /secrets/keys}) adds one and makes it current,
 * and an operator may edit the file by hand as well (the same lines on every master that shares a database). The file
 * is read again when its contents change, looked at no more than once a second. A file of the earlier format (the
 * base64 of one key and nothing else) is read as {@code k1}.
 */
public final class SecretKeys {

    private static final Logger LOG = Logger.getLogger(SecretKeys.class.getName());
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final long CHECK_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(1);
    private static final Pattern KEY_ID = Pattern.compile("[A-Za-z0-9_-]{1,16}");
    private static final Pattern LEGACY = Pattern.compile("[A-Za-z0-9+/]{43}=");
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");

    /** The keys as read at one moment: which one is current, and every key by id, oldest first. */
    public record Ring(String currentId, Map<String, byte[]> all) {
        public Ring {
            all = Collections.unmodifiableMap(new LinkedHashMap<>(all));
        }

        byte[] key(String id) {
            byte[] key = all.get(id);
            if (key == null) {
                throw new IllegalStateException("no key '" + id + "' in the secret key file");
            }
            return key;
        }

        byte[] keyOrNull(String id) {
            return all.get(id);
        }
    }

    private final WatchedFile file;
    private volatile Ring ring;

    private SecretKeys(Path file, LongSupplier nanoClock) {
        this.file = new WatchedFile(file, nanoClock, CHECK_INTERVAL_NANOS, false);
    }

    /**
     * The keys of {@code file}, made with one fresh key when it does not exist yet.
     *
     * @throws IllegalStateException when the file cannot be read, holds no usable key, or others may read or write it
     */
    public static SecretKeys loadOrCreate(Path file) {
        return loadOrCreate(file, System::nanoTime);
    }

    static SecretKeys loadOrCreate(Path file, LongSupplier nanoClock) {
        Path real;
        try {
            if (!Files.exists(file)) {
                Files.createDirectories(file.toAbsolutePath().getParent());
                try {
                    String id = newId(Set.of());
                    writeOwnerOnly(file, format(id, Map.of(id, fresh())), false);
                } catch (FileAlreadyExistsException raced) {
                    // another start made it first: use theirs
                }
            }
            // A link (to a mounted key store, say) is followed once, here: the master reads and writes the file it
            // leads to, and the link stays as it is.
            real = file.toRealPath();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the secret key file " + file + ": " + e.getMessage(), e);
        }
        checkOwnerOnly(real);
        SecretKeys keys = new SecretKeys(real, nanoClock);
        try {
            keys.file.reloadNow(content -> keys.ring = parse(file, content));
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the secret key file " + file + ": " + e.getMessage(), e);
        }
        return keys;
    }

    public Path path() {
        return file.path();
    }

    /** The keys now, read again first when the file may have changed. */
    public Ring ring() {
        if (file.due()) {
            try {
                file.reloadIfChanged(this::load);
            } catch (IOException e) {
                LOG.severe("cannot read the secret key file " + file.path() + ": " + e.getMessage()
                        + "; keeping the keys read before");
            }
        }
        return ring;
    }

    /**
     * The keys, read again at once from the file when they lack {@code id}: another master of the database may have
     * just added it to the shared file and sealed a task's value under it, which this master must open without waiting
     * for its next look at the file.
     */
    public Ring ringWith(String id) {
        Ring now = ring();
        if (now.keyOrNull(id) != null) {
            return now;
        }
        try {
            file.reloadNow(this::load);
        } catch (IOException e) {
            LOG.severe("cannot read the secret key file " + file.path() + ": " + e.getMessage()
                    + "; keeping the keys read before");
        }
        return ring;
    }

    /** Makes a new key and makes it current; returns its id. Older keys stay, to open what they sealed. */
    public synchronized String addKey() {
        reread();
        Ring now = ring;
        String id = newId(now.all().keySet());
        Map<String, byte[]> keys = new LinkedHashMap<>(now.all());
        keys.put(id, fresh());
        try {
            writeOwnerOnly(file.path(), format(id, keys), true);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the secret key file " + file.path() + ": " + e.getMessage(), e);
        }
        reread();
        LOG.warning("a new secret key '" + id + "' seals secretEnv from now on; copy " + file.path() + " to every other "
                + "master of this database, and keep a copy with the backups");
        return id;
    }

    /** Reads the file now, whatever the interval says: this master has just written it, or is about to. */
    private void reread() {
        try {
            file.reloadNow(this::load);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the secret key file " + file.path() + ": " + e.getMessage(), e);
        }
    }

    private void load(byte[] content) {
        try {
            checkOwnerOnly(file.path());
            Ring read = parse(file.path(), content);
            ring = read;
            LOG.info(() -> "secret keys from " + file.path() + ": " + read.all().keySet() + ", current " + read.currentId());
        } catch (RuntimeException e) {
            LOG.severe(e.getMessage() + "; keeping the keys read before");
        }
    }

    static Ring parse(Path file, byte[] content) {
        String text = new String(content, StandardCharsets.UTF_8).trim();
        if (LEGACY.matcher(text).matches()) {
            return new Ring("k1", Map.of("k1", decode(file, "k1", text)));
        }
        Map<String, byte[]> keys = new LinkedHashMap<>();
        String current = null;
        int lineNumber = 0;
        for (String line : text.split("\n")) {
            lineNumber++;
            String trimmed = line.trim();
            if (trimmed.isEmpty() || trimmed.startsWith("#")) {
                continue;
            }
            int equals = trimmed.indexOf('=');
            String name = equals < 0 ? trimmed : trimmed.substring(0, equals).trim();
            String value = equals < 0 ? "" : trimmed.substring(equals + 1).trim();
            if (name.equals("current")) {
                current = value;
            } else if (KEY_ID.matcher(name).matches()) {
                if (keys.put(name, decode(file, name, value)) != null) {
                    throw new IllegalStateException(file + ": key '" + name + "' is there twice");
                }
            } else {
                throw new IllegalStateException(file + ", line " + lineNumber + ": not 'current=<id>' nor "
                        + "'<id>=<base64 of 32 bytes>' (ids: 1 to 16 of A-Z a-z 0-9 _ -)");
            }
        }
        if (keys.isEmpty()) {
            throw new IllegalStateException(file + " holds no key");
        }
        if (current == null) {
            throw new IllegalStateException(file + " does not say which key is current (current=<id>)");
        }
        if (!keys.containsKey(current)) {
            throw new IllegalStateException(file + ": the current key '" + current + "' is not in the file");
        }
        return new Ring(current, keys);
    }

    private static byte[] decode(Path file, String id, String base64) {
        byte[] key;
        try {
            key = Base64.getDecoder().decode(base64);
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException(file + ": key '" + id + "' is not base64", e);
        }
        if (key.length != 32) {
            throw new IllegalStateException(file + ": key '" + id + "' is " + key.length + " bytes, not 32 (256 bits)");
        }
        return key;
    }

    static String format(String current, Map<String, byte[]> keys) {
        StringBuilder text = new StringBuilder("# Taskgrid's secret keys: 'current' seals new secretEnv values, every key "
                + "opens what it sealed.\n# Readable by the master's user only; back it up apart from the database. "
                + "See docs/security.md.\ncurrent=" + current + "\n");
        keys.forEach((id, key) -> text.append(id).append('=').append(Base64.getEncoder().encodeToString(key))
                .append('\n'));
        return text.toString();
    }

    /**
     * A new key id: random, so that a key file made afresh (a lost one, another master's) never reuses an id that
     * values in the database already name, which would then claim to open them and not.
     */
    static String newId(Set<String> taken) {
        while (true) {
            String id = String.format("k%08x", RANDOM.nextInt());
            if (!taken.contains(id)) {
                return id;
            }
        }
    }

    private static byte[] fresh() {
        byte[] key = new byte[32];
        RANDOM.nextBytes(key);
        return key;
    }

    /**
     * Written aside, owner-only, through the channel that created the file (never reopened by name, so nothing can be
     * swapped in between) and forced to the disk; then linked (a new file) or moved (a replacement) into place, and the
     * directory forced too: a reader never sees half a file, and a crash never leaves an empty one.
     */
    private static void writeOwnerOnly(Path file, String content, boolean replace) throws IOException {
        Path temp = file.resolveSibling(file.getFileName() + ".new");
        Files.deleteIfExists(temp);
        Set<OpenOption> options = Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
                LinkOption.NOFOLLOW_LINKS);
        FileChannel channel;
        try {
            channel = FileChannel.open(temp, options, PosixFilePermissions.asFileAttribute(OWNER_ONLY));
        } catch (UnsupportedOperationException noPosix) {
            channel = FileChannel.open(temp, options);
        }
        try (FileChannel out = channel) {
            ByteBuffer bytes = ByteBuffer.wrap(content.getBytes(StandardCharsets.UTF_8));
            while (bytes.hasRemaining()) {
                out.write(bytes);
            }
            out.force(true);
        }
        if (!replace) {
            try {
                Files.createLink(file, temp);
            } finally {
                Files.delete(temp);
            }
        } else {
            try {
                Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        }
        forceDirectory(file.toAbsolutePath().getParent());
    }

    /** The directory's entry for the file, on the disk; where a directory cannot be opened so, the rename must do. */
    private static void forceDirectory(Path dir) {
        try (FileChannel directory = FileChannel.open(dir, StandardOpenOption.READ)) {
            directory.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            LOG.fine(() -> "could not force " + dir + ": " + e);
        }
    }

    /** Secrets that other users can read are not secret, and a key they can write is theirs. */
    private static void checkOwnerOnly(Path file) {
        try {
            Set<PosixFilePermission> permissions = Files.getPosixFilePermissions(file);
            Set<PosixFilePermission> others = EnumSet.copyOf(permissions);
            others.removeAll(EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE,
                    PosixFilePermission.OWNER_EXECUTE));
            if (!others.isEmpty()) {
                throw new IllegalStateException("the secret key file " + file + " is "
                        + PosixFilePermissions.toString(permissions) + ": other users may read or change it; make it "
                        + "the master's user's alone (chmod 600 " + file + ")");
            }
        } catch (UnsupportedOperationException noPosix) {
            // a file system without POSIX permissions: nothing to check
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the permissions of " + file + ": " + e.getMessage(), e);
        }
    }
}
