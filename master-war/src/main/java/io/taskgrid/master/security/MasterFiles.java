package io.taskgrid.master.security;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.Collection;
import java.util.EnumSet;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.logging.Logger;

/**
 * Keeps the directories that hold the master's state (the tokens file, the secret key; on Liberty also the database
 * and the logs, which once held the first-start tokens) to the master's user. Anyone else who can read them, a task
 * run as another local user included, could copy the key and every sealed secret; anyone who can write them could
 * replace the tokens file and make themselves operator. So at start the master closes such a directory when it owns
 * it (and says so), and refuses to start when it cannot: a directory others may write into and that is not sticky.
 */
public final class MasterFiles {

    private static final Logger LOG = Logger.getLogger(MasterFiles.class.getName());
    private static final Set<PosixFilePermission> OTHERS_WRITE = EnumSet.of(PosixFilePermission.GROUP_WRITE,
            PosixFilePermission.OTHERS_WRITE);
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rwx------");

    private MasterFiles() {
    }

    /**
     * Checks, and where needed closes, the directory of each file: makes a missing one owner-only, closes one this
     * user owns that others may enter, refuses one others may write into.
     *
     * @throws IllegalStateException naming the directory, when the master must not start
     */
    public static void secureDirectoriesOf(Collection<Path> files) {
        Set<Path> dirs = new LinkedHashSet<>();
        for (Path file : files) {
            Path parent = file.toAbsolutePath().normalize().getParent();
            if (parent != null) {
                dirs.add(parent);
            }
        }
        dirs.forEach(MasterFiles::secure);
    }

    static void secure(Path dir) {
        try {
            if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
                Path parent = dir.getParent();
                if (parent != null) {
                    Files.createDirectories(parent);
                }
                Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(OWNER_ONLY));
                return;
            }
            PosixFileAttributes attributes = Files.readAttributes(dir, PosixFileAttributes.class);
            Set<PosixFilePermission> permissions = attributes.permissions();
            if (!attributes.isDirectory()) {
                throw new IllegalStateException(dir + " holds the master's tokens or key file but is not a directory");
            }
            boolean othersMayWrite = permissions.stream().anyMatch(OTHERS_WRITE::contains);
            boolean mine = ownedByThisUser(dir, attributes.owner());
            if (othersMayWrite && !mine) {
                throw new IllegalStateException("the directory " + dir + ", which holds the master's tokens or key "
                        + "file, is " + PosixFilePermissions.toString(permissions) + " and owned by "
                        + attributes.owner().getName() + ": others may replace those files (and make themselves "
                        + "operator); give the master a directory of its own (taskgrid.home) or chmod go-w " + dir);
            }
            if (mine && !permissions.equals(ownerBits(permissions))) {
                Set<PosixFilePermission> closed = ownerBits(permissions);
                Files.setPosixFilePermissions(dir, closed);
                LOG.warning(() -> "TASKGRID SECURITY: " + dir + " was " + PosixFilePermissions.toString(permissions)
                        + "; made it " + PosixFilePermissions.toString(closed) + ": it holds the master's tokens or "
                        + "key (and, on Liberty, its database and logs), which no other user may read or change");
            } else if (!mine && (permissions.contains(PosixFilePermission.OTHERS_READ)
                    || permissions.contains(PosixFilePermission.GROUP_READ))) {
                LOG.warning(() -> "TASKGRID SECURITY: " + dir + " is " + PosixFilePermissions.toString(permissions)
                        + " and owned by " + attributes.owner().getName() + ": other users can list the master's "
                        + "files in it; give the master a directory of its own (taskgrid.home)");
            }
        } catch (UnsupportedOperationException noPosix) {
            // Not a POSIX file system (Windows): its ACLs are the operator's to set.
        } catch (IOException e) {
            throw new UncheckedIOException("cannot check " + dir + ": " + e.getMessage(), e);
        }
    }

    private static Set<PosixFilePermission> ownerBits(Set<PosixFilePermission> permissions) {
        Set<PosixFilePermission> owner = EnumSet.noneOf(PosixFilePermission.class);
        for (PosixFilePermission permission : permissions) {
            if (OWNER_ONLY.contains(permission)) {
                owner.add(permission);
            }
        }
        return owner;
    }

    /** By uid where the file system tells it (Linux), else by the name this JVM runs under. */
    private static boolean ownedByThisUser(Path dir, UserPrincipal owner) throws IOException {
        try {
            return Files.getAttribute(dir, "unix:uid").equals(Files.getAttribute(Path.of("/proc/self"), "unix:uid"));
        } catch (UnsupportedOperationException | IllegalArgumentException | IOException noUnixView) {
            return owner.equals(dir.getFileSystem().getUserPrincipalLookupService()
                    .lookupPrincipalByName(System.getProperty("user.name")));
        }
    }
}
