package io.taskgrid.master.task;

import jakarta.json.Json;
import jakarta.json.JsonObject;
import jakarta.json.JsonObjectBuilder;
import jakarta.json.JsonReader;
import jakarta.json.JsonString;
import jakarta.persistence.AttributeConverter;
import jakarta.persistence.Converter;

import java.io.StringReader;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/** Stores a task's environment as one JSON object column instead of a side table: it is only read whole. */
@Converter
public class EnvConverter implements AttributeConverter<Map<String, String>, String> {

    @Override
    public String convertToDatabaseColumn(Map<String, String> env) {
        if (env == null || env.isEmpty()) {
            return null;
        }
        JsonObjectBuilder builder = Json.createObjectBuilder();
        new TreeMap<>(env).forEach(builder::add);
        return builder.build().toString();
    }

    @Override
    public Map<String, String> convertToEntityAttribute(String json) {
        if (json == null || json.isBlank()) {
            return Map.of();
        }
        try (JsonReader reader = Json.createReader(new StringReader(json))) {
            JsonObject object = reader.readObject();
            Map<String, String> env = new LinkedHashMap<>();
            object.forEach((name, value) -> env.put(name, ((JsonString) value).getString()));
            return env;
        }
    }
}
