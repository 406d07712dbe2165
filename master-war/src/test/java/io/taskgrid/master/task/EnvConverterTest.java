package io.taskgrid.master.task;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

class EnvConverterTest {

    private final EnvConverter converter = new EnvConverter();

    @Test
    void roundTripsValuesWithQuotesNewlinesAndUnicode() {
        Map<String, String> env = Map.of("A", "x \"y\" 'z'", "B_2", "line1\nline2", "C", "héllo ✓", "EMPTY", "");
        String column = converter.convertToDatabaseColumn(env);
        assertThat(converter.convertToEntityAttribute(column)).isEqualTo(env);
    }

    @Test
    void anEmptyEnvironmentIsStoredAsNull() {
        assertThat(converter.convertToDatabaseColumn(Map.of())).isNull();
        assertThat(converter.convertToEntityAttribute(null)).isEmpty();
    }
}
