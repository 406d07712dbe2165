package io.taskgrid.master.config;

import org.eclipse.microprofile.config.Config;
import org.eclipse.microprofile.config.ConfigValue;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.StreamSupport;

/**
 * Where the master's settings come from: MicroProfile Config on a server, a map in tests. Besides the values it tells
 * where each came from and which names it holds, so that a bad value can be traced to the file or variable that set
 * it and a misspelt name found.
 */
public interface SettingSource {

    /** The value of {@code key}; empty when no source sets it (or sets it to the empty string). */
    Optional<String> value(String key);

    /** Where the value of {@code key} came from, for messages ("EnvConfigSource", "server.xml"...); may be empty. */
    String origin(String key);

    /** Every name the sources hold, their own spelling (an environment variable as {@code TASKGRID_X}). */
    List<String> names();

    static SettingSource of(Config config) {
        return new SettingSource() {
            @Override
            public Optional<String> value(String key) {
                return config.getOptionalValue(key, String.class);
            }

            @Override
            public String origin(String key) {
                ConfigValue value = config.getConfigValue(key);
                return value == null || value.getSourceName() == null ? "" : value.getSourceName();
            }

            @Override
            public List<String> names() {
                return StreamSupport.stream(config.getPropertyNames().spliterator(), false).toList();
            }
        };
    }

    static SettingSource of(Map<String, String> values) {
        Map<String, String> copy = Map.copyOf(values);
        return new SettingSource() {
            @Override
            public Optional<String> value(String key) {
                return Optional.ofNullable(copy.get(key)).filter(v -> !v.isEmpty());
            }

            @Override
            public String origin(String key) {
                return "";
            }

            @Override
            public List<String> names() {
                return List.copyOf(copy.keySet());
            }
        };
    }
}
