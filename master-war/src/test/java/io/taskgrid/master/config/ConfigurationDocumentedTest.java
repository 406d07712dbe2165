package io.taskgrid.master.config;

import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The README's configuration table is what operators read; it must name every key the master or its server.xml
 * reads, and nothing else. A key added to the code without a line in the table, or a line left for a key that went,
 * fails here.
 */
class ConfigurationDocumentedTest {

    private static final Path PROJECT = Path.of("..").toAbsolutePath().normalize();
    private static final Path LIBERTY_CONFIG = PROJECT.resolve("server-config/src/main/liberty/config");

    @Test
    void theReadmeTableListsExactlyTheKeysThatAreRead() throws IOException {
        Set<String> read = new TreeSet<>(applicationKeys());
        read.addAll(libertyKeys());
        assertThat(documentedKeys()).as("keys in the README's table vs keys read by TaskgridConfig and server.xml")
                .containsExactlyInAnyOrderElementsOf(read);
    }

    @Test
    void everyKeyTheApplicationReadsHasItsDefaultInTheApplication() throws IOException {
        Properties defaults = applicationDefaults();
        List<String> missing = new ArrayList<>();
        for (Field field : TaskgridConfig.class.getDeclaredFields()) {
            ConfigProperty property = field.getAnnotation(ConfigProperty.class);
            if (property != null && property.name().startsWith("taskgrid.") && field.getType() != Optional.class
                    && !defaults.containsKey(property.name())) {
                missing.add(property.name());
            }
        }
        // Without a default in the WAR, a server other than Liberty fails the deployment (Payara did).
        assertThat(missing).as("keys without a default in META-INF/microprofile-config.properties").isEmpty();
        assertThat(applicationKeys()).containsAll(defaults.stringPropertyNames().stream()
                .filter(k -> k.startsWith("taskgrid.") && !k.equals("taskgrid.home")).toList());
    }

    @Test
    void theEnvironmentVariableColumnIsTheKeyInCapitals() throws IOException {
        for (String[] row : tableRows()) {
            List<String> keys = expand(row[0]);
            List<String> variables = names(row[1], "TASKGRID_[A-Z0-9_]+");
            if (variables.size() == keys.size()) {
                for (int i = 0; i < keys.size(); i++) {
                    assertThat(variables.get(i)).isEqualTo(keys.get(i).toUpperCase(Locale.ROOT).replace('.', '_'));
                }
            }
        }
    }

    private static Set<String> applicationKeys() throws IOException {
        Set<String> keys = new TreeSet<>();
        for (Field field : TaskgridConfig.class.getDeclaredFields()) {
            ConfigProperty property = field.getAnnotation(ConfigProperty.class);
            if (property != null && property.name().startsWith("taskgrid.")) {
                keys.add(property.name());
            }
        }
        applicationDefaults().stringPropertyNames().stream().filter(k -> k.startsWith("taskgrid.")).forEach(keys::add);
        return keys;
    }

    private static Properties applicationDefaults() throws IOException {
        Properties defaults = new Properties();
        try (InputStream in = TaskgridConfig.class.getResourceAsStream("/META-INF/microprofile-config.properties")) {
            defaults.load(in);
        }
        return defaults;
    }

    /** The server.xml variables (and bootstrap.properties' choice of database) that Liberty reads itself. */
    private static Set<String> libertyKeys() throws IOException {
        Set<String> keys = new TreeSet<>();
        Pattern variable = Pattern.compile("<variable name=\"(taskgrid\\.[a-z0-9.]+)\"");
        try (var files = Files.list(LIBERTY_CONFIG)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".xml")).toList()) {
                Matcher m = variable.matcher(Files.readString(file));
                while (m.find()) {
                    keys.add(m.group(1));
                }
            }
        }
        Properties bootstrap = new Properties();
        try (InputStream in = Files.newInputStream(LIBERTY_CONFIG.resolve("bootstrap.properties"))) {
            bootstrap.load(in);
        }
        bootstrap.stringPropertyNames().stream().filter(k -> k.startsWith("taskgrid.")).forEach(keys::add);
        return keys;
    }

    private static Set<String> documentedKeys() throws IOException {
        Set<String> keys = new TreeSet<>();
        for (String[] row : tableRows()) {
            keys.addAll(expand(row[0]));
        }
        return keys;
    }

    /** The rows of the table under "## Configuration of the master", split into cells. */
    private static List<String[]> tableRows() throws IOException {
        String readme = Files.readString(PROJECT.resolve("README.md"));
        int start = readme.indexOf("## Configuration of the master");
        int end = readme.indexOf("\n## ", start + 1);
        assertThat(start).as("the README's configuration section").isNotNegative();
        List<String[]> rows = new ArrayList<>();
        for (String line : readme.substring(start, end).split("\n")) {
            if (line.startsWith("| `taskgrid.")) {
                rows.add(line.substring(1).split("\\|"));
            }
        }
        assertThat(rows).hasSizeGreaterThan(10);
        return rows;
    }

    /** "`taskgrid.db.host`, `.port`" names taskgrid.db.host and taskgrid.db.port. */
    private static List<String> expand(String cell) {
        List<String> keys = new ArrayList<>();
        String prefix = null;
        for (String name : names(cell, "`([a-z0-9.]+)`")) {
            if (name.startsWith(".") && prefix != null) {
                keys.add(prefix + name);
            } else {
                keys.add(name);
                prefix = name.substring(0, name.lastIndexOf('.'));
            }
        }
        return keys;
    }

    private static List<String> names(String cell, String regex) {
        List<String> names = new ArrayList<>();
        Matcher m = Pattern.compile(regex).matcher(cell);
        while (m.find()) {
            names.add(m.groupCount() > 0 ? m.group(1) : m.group());
        }
        return names;
    }
}
