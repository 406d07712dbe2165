package io.taskgrid.master.task;

import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.ResourceProvider;
import org.flywaydb.core.api.output.MigrateResult;
import org.flywaydb.core.api.resource.LoadableResource;

import javax.sql.DataSource;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.logging.Logger;

/**
 * Brings the database's schema to the version this master needs, with Flyway, before anything else touches it: one
 * history of versioned SQL files ({@code db/migration}) for H2 and PostgreSQL, the few type names that differ given as
 * placeholders. Flyway takes a lock for the duration, so masters starting at once on one database apply each
 * migration once. A database made before migrations existed (tables, no history) is taken as version 0: V1 only
 * creates what is missing, V2 on completes it.
 */
public final class SchemaMigrations {

    private static final Logger LOG = Logger.getLogger(SchemaMigrations.class.getName());
    static final String LOCATION = "db/migration/";
    public static final String HISTORY_TABLE = "TG_SCHEMA_HISTORY";

    private SchemaMigrations() {
    }

    /**
     * The supported databases, what their SQL calls unbounded text, and how an index is limited to the few rows a
     * query looks for (a partial index, where the database has them).
     */
    public enum Vendor {
        H2("CLOB", ""), POSTGRESQL("TEXT", "WHERE ADOPTED = FALSE");

        final String textType;
        final String onlyNotAdopted;

        Vendor(String textType, String onlyNotAdopted) {
            this.textType = textType;
            this.onlyNotAdopted = onlyNotAdopted;
        }

        public static Vendor of(Connection connection) throws SQLException {
            String product = connection.getMetaData().getDatabaseProductName().toLowerCase(Locale.ROOT);
            if (product.contains("h2")) {
                return H2;
            }
            if (product.contains("postgres")) {
                return POSTGRESQL;
            }
            throw new IllegalStateException("unsupported database '" + product + "': Taskgrid runs on H2 or PostgreSQL");
        }
    }

    /** Migrates and says what it did; throws if the schema cannot be brought up to date. */
    public static MigrateResult migrate(DataSource dataSource) {
        Vendor vendor;
        try (Connection connection = dataSource.getConnection()) {
            vendor = Vendor.of(connection);
        } catch (SQLException e) {
            throw new IllegalStateException("cannot reach the database: " + e.getMessage(), e);
        }
        ClassLoader loader = SchemaMigrations.class.getClassLoader();
        MigrateResult result = Flyway.configure(loader)
                .dataSource(dataSource)
                .table(HISTORY_TABLE)
                .resourceProvider(new ListedMigrations(loader))
                .javaMigrationClassProvider(List::of)
                // No callbacks. Flyway still looks for Java ones in db/callback, which holds only a marker file
                // (flyway.location): an empty folder cannot be found through Liberty's class loader.
                .skipDefaultCallbacks(true)
                .callbackLocations("classpath:db/callback")
                .placeholders(Map.of("text", vendor.textType, "onlyNotAdopted", vendor.onlyNotAdopted))
                .baselineOnMigrate(true)
                .baselineVersion("0")
                .cleanDisabled(true)
                .load()
                .migrate();
        // Flyway names no target version when nothing was applied: the schema is then where it was.
        String version = result.targetSchemaVersion != null ? result.targetSchemaVersion : result.initialSchemaVersion;
        LOG.info(() -> "database schema (" + vendor + ") at version " + version + "; " + result.migrationsExecuted
                + " migration(s) applied now");
        return result;
    }

    /** The migration files named in {@code db/migration/index.txt}, read from this class's loader. */
    static List<String> listed(ClassLoader loader) {
        try (InputStream in = loader.getResourceAsStream(LOCATION + "index.txt")) {
            if (in == null) {
                throw new IllegalStateException(LOCATION + "index.txt is missing from the application");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().map(String::trim)
                    .filter(line -> !line.isEmpty() && !line.startsWith("#")).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Migrations by name from a list, instead of Flyway's class path scanning: scanning depends on how each server's
     * class loader exposes a WAR's files, while loading a named resource works everywhere.
     */
    private static final class ListedMigrations implements ResourceProvider {
        private final ClassLoader loader;
        private final List<LoadableResource> resources;

        ListedMigrations(ClassLoader loader) {
            this.loader = loader;
            this.resources = listed(loader).stream().map(name -> (LoadableResource) new Migration(name)).toList();
        }

        @Override
        public LoadableResource getResource(String name) {
            return resources.stream().filter(r -> r.getFilename().equals(name) || r.getRelativePath().equals(name))
                    .findFirst().orElse(null);
        }

        @Override
        public Collection<LoadableResource> getResources(String prefix, String[] suffixes) {
            return resources.stream()
                    .filter(r -> r.getFilename().startsWith(prefix)
                            && Arrays.stream(suffixes).anyMatch(s -> r.getFilename().endsWith(s)))
                    .toList();
        }

        private final class Migration extends LoadableResource {
            private final String name;

            Migration(String name) {
                this.name = name;
            }

            @Override
            public Reader read() {
                InputStream in = loader.getResourceAsStream(LOCATION + name);
                if (in == null) {
                    throw new IllegalStateException("migration " + LOCATION + name + " is listed but missing");
                }
                return new InputStreamReader(in, StandardCharsets.UTF_8);
            }

            @Override
            public String getAbsolutePath() {
                return LOCATION + name;
            }

            @Override
            public String getAbsolutePathOnDisk() {
                return LOCATION + name;
            }

            @Override
            public String getFilename() {
                return name;
            }

            @Override
            public String getRelativePath() {
                return name;
            }
        }
    }
}
