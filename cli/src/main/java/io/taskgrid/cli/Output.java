package io.taskgrid.cli;

import jakarta.json.JsonObject;
import jakarta.json.JsonValue;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

/** Tables for people, JSON for scripts ({@code -o json}). */
final class Output {

    enum Format { table, json }

    private Output() {
    }

    /** Columns padded to their widest cell; a cell's control characters shown as '?', so no task can move the cursor. */
    static void table(PrintWriter out, List<String> header, List<List<String>> rows) {
        List<List<String>> all = new ArrayList<>();
        all.add(header);
        for (List<String> row : rows) {
            all.add(row.stream().map(Output::printable).toList());
        }
        int[] widths = new int[header.size()];
        for (List<String> row : all) {
            for (int i = 0; i < row.size(); i++) {
                widths[i] = Math.max(widths[i], row.get(i).length());
            }
        }
        for (List<String> row : all) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < row.size(); i++) {
                line.append(i == row.size() - 1 ? row.get(i) : String.format("%-" + widths[i] + "s  ", row.get(i)));
            }
            out.println(line.toString().stripTrailing());
        }
        out.flush();
    }

    static String printable(String text) {
        if (text == null) {
            return "";
        }
        StringBuilder clean = new StringBuilder(text.length());
        text.codePoints().forEach(c -> clean.appendCodePoint(Character.isISOControl(c) ? '?' : c));
        return clean.toString();
    }

    static String shortened(String text, int max) {
        String line = printable(text);
        return line.length() <= max ? line : line.substring(0, max - 1) + "…";
    }

    static String text(JsonObject object, String key) {
        JsonValue value = object.get(key);
        if (value == null || value.getValueType() == JsonValue.ValueType.NULL) {
            return "";
        }
        return value.getValueType() == JsonValue.ValueType.STRING ? object.getString(key) : value.toString();
    }

    static Integer exitCode(JsonObject task) {
        JsonValue value = task.get("exitCode");
        return value == null || value.getValueType() != JsonValue.ValueType.NUMBER ? null : task.getInt("exitCode");
    }
}
