package io.taskgrid.master.config;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The configuration table of docs/configuration.md is what operators read; it must name every setting of
 * {@link Setting}, and nothing else; each setting the application reads has its default in the one file of defaults;
 * and what Liberty's server.xml reads is in the catalog too (else the master would call it an unknown setting). A key
 * added to the code without a line in the table, a default missing or left behind, or a server.xml variable the
 * catalog lacks fails here.
 */
class ConfigurationDocumentedTest {

    private static final Path PROJECT = Path.of("..").toAbsolutePath().normalize();
    private static final Path PAGE = PROJECT.resolve("docs/configuration.md");
    private static final Path LIBERTY_CONFIG = PROJECT.resolve("server-config/src/main/liberty/config");

    @Test
    void theDocumentedTableListsExactlyTheSettings() throws IOException {
        Set<String> catalog = new TreeSet<>();
        for (Setting setting : Setting.values()) {
            catalog.add(setting.key());
        }
        assertThat(documentedKeys()).as("keys in the table of " + PAGE + " vs the settings of config.Setting")
                .containsExactlyInAnyOrderElementsOf(catalog);
    }

    @Test
    void theSettingsLibertyReadsAreExactlyTheServerConfigurationsVariables() throws IOException {
        Set<String> libertyOnly = new TreeSet<>();
        for (Setting setting : Setting.values()) {
            if (!setting.readByApplication()) {
                libertyOnly.add(setting.key());
            }
        }
        Set<String> known = new TreeSet<>();
        for (Setting setting : Setting.values()) {
            known.add(setting.key());
        }
        assertThat(libertyKeys()).as("server.xml variables and bootstrap.properties keys are settings")
                .isSubsetOf(known).containsAll(libertyOnly);
    }

    @Test
    void eachSettingTheApplicationReadsHasItsDefaultInTheOneFileOfDefaultsAndNothingElseIsThere() throws IOException {
        Properties defaults = applicationDefaults();
        List<String> missing = new ArrayList<>();
        Set<String> read = new TreeSet<>();
        for (Setting setting : Setting.readByApplicationOnly()) {
            read.add(setting.key());
            if (!setting.optional() && !defaults.containsKey(setting.key())) {
                missing.add(setting.key());
            }
        }
        // Without a default in the WAR, the master cannot start on a server that sets nothing (Payara, WildFly).
        assertThat(missing).as("settings without a default in META-INF/microprofile-config.properties").isEmpty();
        assertThat(read).as("keys in META-INF/microprofile-config.properties that the application does not read")
                .containsAll(defaults.stringPropertyNames().stream().filter(k -> k.startsWith("taskgrid.")).toList());
    }

    @Test
    void theDefaultsObeyTheirOwnRulesAndAreWhatTheCodeRuns() throws IOException {
        TaskgridConfig defaults = TaskgridConfig.defaults();
        Properties file = applicationDefaults();
        assertThat(defaults.queueMax()).isEqualTo(Integer.parseInt(file.getProperty("taskgrid.queue.max")));
        assertThat(defaults.lostAfterSeconds()).isEqualTo(Long.parseLong(file.getProperty("taskgrid.lost.after.seconds")));
        assertThat(defaults.authEnabled()).isEqualTo(Boolean.parseBoolean(file.getProperty("taskgrid.auth.enabled")));
        assertThat(defaults.tokensFile()).isEqualTo(System.getProperty("user.home")
                + "/.taskgrid/taskgrid-tokens.properties");
        assertThat(defaults.warnings()).isEmpty();
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

    /** The rows of the settings table of docs/configuration.md (the page is about nothing else), split into cells. */
    private static List<String[]> tableRows() throws IOException {
        assertThat(PAGE).as("the configuration page").isRegularFile();
        List<String[]> rows = new ArrayList<>();
        for (String line : Files.readString(PAGE).split("\n")) {
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
