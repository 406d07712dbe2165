package io.taskgrid.master.config;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

class SettingsCheckTest {

    /** The defaults, with {@code changes} on top: what a server sees when an operator sets those. */
    private static SettingSource with(String... changes) {
        Map<String, String> values = new HashMap<>(TaskgridConfig.defaultsFile());
        for (int i = 0; i < changes.length; i += 2) {
            values.put(changes[i], changes[i + 1]);
        }
        return new SettingSource() {
            @Override
            public Optional<String> value(String key) {
                return Optional.ofNullable(values.get(key));
            }

            @Override
            public String origin(String key) {
                return TaskgridConfig.defaultsFile().containsKey(key) && !List.of(changes).contains(key)
                        ? "microprofile-config.properties" : "EnvConfigSource";
            }

            @Override
            public List<String> names() {
                return List.copyOf(values.keySet());
            }
        };
    }

    @Test
    void aValueTheMasterCannotUseStopsItWithOneLineNamingTheSettingTheValueTheRuleAndTheSource() {
        InvalidSettings refused = catchThrowableOfType(InvalidSettings.class,
                () -> TaskgridConfig.from(with("taskgrid.lost.after.seconds", "10s")));
        assertThat(refused.getMessage()).isEqualTo("a setting has a value the master cannot use: "
                + "taskgrid.lost.after.seconds (TASKGRID_LOST_AFTER_SECONDS) is '10s': must be a whole number from 1 "
                + "to 604800 (set in an environment variable)");
        assertThat(refused.getStackTrace()).as("nothing but the message to print").isEmpty();
    }

    @Test
    void everyBadValueIsNamedAtOnceOnOneLine() {
        InvalidSettings refused = catchThrowableOfType(InvalidSettings.class, () -> TaskgridConfig.from(with(
                "taskgrid.queue.max", "0", "taskgrid.grpc.port", "70000", "taskgrid.retention.days", "NaN",
                "taskgrid.metrics.public", "yes\nforged log line")));
        assertThat(refused.problems()).hasSize(4);
        assertThat(refused.getMessage()).startsWith("4 settings have values the master cannot use: ")
                .contains("taskgrid.queue.max (TASKGRID_QUEUE_MAX) is '0': must be a whole number from 1 to")
                .contains("taskgrid.grpc.port (TASKGRID_GRPC_PORT) is '70000': must be a port from 1 to 65535")
                .contains("taskgrid.retention.days (TASKGRID_RETENTION_DAYS) is 'NaN': must be a number")
                .contains("taskgrid.metrics.public (TASKGRID_METRICS_PUBLIC) is a value of several lines (not shown): "
                        + "must be true or false")
                .doesNotContain("\n");
    }

    @Test
    void onlyTrueOrFalseSwitchesAndAMisspeltTrueNeverTurnsAuthenticationOff() {
        // MicroProfile Config converts any word but true/yes/on/1... to false: "ture" was authentication off.
        assertThatThrownBy(() -> TaskgridConfig.from(with("taskgrid.auth.enabled", "ture")))
                .isInstanceOf(InvalidSettings.class).hasMessageContaining("must be true or false");
        assertThat(TaskgridConfig.from(with("taskgrid.auth.enabled", "FALSE")).authEnabled()).isFalse();
        assertThat(TaskgridConfig.from(with("taskgrid.auth.enabled", " true ")).authEnabled()).isTrue();
    }

    @Test
    void valuesAtTheEdgesOfTheirRulesAreTaken() {
        TaskgridConfig config = TaskgridConfig.from(with("taskgrid.http.port", "-1", "taskgrid.grpc.port", "65535",
                "taskgrid.retention.days", "0.5", "taskgrid.output.max.followers", "0"));
        assertThat(config.httpPort()).isEqualTo(-1);
        assertThat(config.grpcPort()).isEqualTo(65535);
        assertThat(config.retentionDays()).isEqualTo(0.5);
        assertThat(config.maxOutputFollowers()).isZero();
        assertThatThrownBy(() -> TaskgridConfig.from(with("taskgrid.grpc.port", "-1")))
                .hasMessageContaining("must be a port from 1 to 65535 (");
    }

    @Test
    void anUnknownNameUnderTaskgridIsAWarningThatNamesTheClosestSettingInTheSameSpelling() {
        TaskgridConfig config = TaskgridConfig.from(with("TASKGRID_LOST_AFTER", "10s", "taskgrid.queue.maxx", "5",
                "taskgrid.retention.day", "1"));
        assertThat(config.warnings()).containsExactlyInAnyOrder(
                "unknown setting TASKGRID_LOST_AFTER is ignored; did you mean TASKGRID_LOST_AFTER_SECONDS?",
                "unknown setting taskgrid.queue.maxx is ignored; did you mean taskgrid.queue.max?",
                "unknown setting taskgrid.retention.day is ignored; did you mean taskgrid.retention.days?");
        assertThat(config.lostAfterSeconds()).as("the unknown name changed nothing").isEqualTo(30);
    }

    @Test
    void knownNamesInAnySpellingTheServersUseAndOtherProgramsNamesAreNoWarning() {
        assertThat(SettingsCheck.unknownNames(List.of("TASKGRID_QUEUE_MAX", "taskgrid_queue_max", "taskgrid.db.host",
                "TASKGRID_DB_PASSWORD", "TASKGRID_HTTPS_PORT", "TASKGRID_JOIN_TOKEN", "TASKGRID_AGENT_JAVA_OPTS",
                "JAVA_HOME", "taskgridish", "mp.jwt.verify.issuer"))).isEmpty();
    }

    @Test
    void theMicroProfileJwtNamesStillWorkWithADeprecationWarningAndTheNewNamesWin() {
        TaskgridConfig old = TaskgridConfig.from(with("mp.jwt.verify.issuer", "https://idp.example",
                "mp.jwt.verify.audiences", "a, b", "mp.jwt.verify.publickey.location", "/etc/key.pem"));
        assertThat(old.jwtIssuer()).contains("https://idp.example");
        assertThat(old.jwtAudiences()).contains(List.of("a", "b"));
        assertThat(old.jwtKeyLocation()).contains("/etc/key.pem");
        assertThat(old.warnings()).hasSize(3).allMatch(w -> w.contains("is a deprecated name here: use taskgrid.jwt."));

        TaskgridConfig both = TaskgridConfig.from(with("mp.jwt.verify.issuer", "https://old.example",
                "taskgrid.jwt.issuer", "https://new.example"));
        assertThat(both.jwtIssuer()).contains("https://new.example");
        assertThat(both.warnings()).isEmpty();
    }

    @Test
    void closestPrefersTheSettingANameBeginsThenTheFewestEdits() {
        assertThat(SettingsCheck.closest("taskgrid.lost.after", java.util.Set.of("taskgrid.listen.host",
                "taskgrid.lost.after.seconds"))).isEqualTo("taskgrid.lost.after.seconds");
        assertThat(SettingsCheck.edits("kitten", "sitting")).isEqualTo(3);
        assertThat(SettingsCheck.edits("", "abc")).isEqualTo(3);
    }

    @Test
    void aKeyPastedWhereItsPathBelongsIsRefusedWithoutRepeatingIt() {
        InvalidSettings refused = catchThrowableOfType(InvalidSettings.class, () -> TaskgridConfig.from(with(
                "taskgrid.grpc.tls.key", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
                        + "-----END PRIVATE KEY-----",
                "taskgrid.grpc.tls.cert", "/no/such/cert.pem",
                "taskgrid.auth.tokens.file", "/etc/tokens\nforged")));
        assertThat(refused.getMessage()).doesNotContain("MIIE").doesNotContain("\n")
                .contains("taskgrid.grpc.tls.key (TASKGRID_GRPC_TLS_KEY) is a PEM block (not shown): must be a file's "
                        + "path, not its contents")
                .contains("taskgrid.grpc.tls.cert (TASKGRID_GRPC_TLS_CERT) is '/no/such/cert.pem': must be a file the "
                        + "master can read")
                .contains("taskgrid.auth.tokens.file (TASKGRID_AUTH_TOKENS_FILE) is a value of several lines (not shown)");
    }

    @Test
    void oneWarningForANameHoweverManySpellingsTheSourcesListAndInTheSpellingTheOperatorWrote() {
        // Liberty lists an environment variable as set and as a property derived from it, in no fixed order.
        for (List<String> order : List.of(List.of("taskgrid.lost.after", "TASKGRID_LOST_AFTER"),
                List.of("TASKGRID_LOST_AFTER", "taskgrid.lost.after", "taskgrid_lost_after"))) {
            assertThat(SettingsCheck.unknownNames(order)).containsExactly(
                    "unknown setting TASKGRID_LOST_AFTER is ignored; did you mean TASKGRID_LOST_AFTER_SECONDS?");
        }
    }

    @Test
    void whereAValueCameFromIsSaidInWords() {
        assertThat(SettingsCheck.origin("EnvConfigSource")).isEqualTo("an environment variable");
        assertThat(SettingsCheck.origin("SysPropConfigSource")).isEqualTo("a system property");
        assertThat(SettingsCheck.origin("jar:file:/x/master.war!/META-INF/microprofile-config.properties"))
                .isEqualTo("the application's defaults");
    }
}
