package io.taskgrid.it.bench;

import jakarta.json.Json;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import jakarta.json.JsonValue;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** The benchmark's runs as one SVG of horizontal bars, a panel per figure, a bar per run; no library needed. */
public final class Chart {

    private record Panel(String title, String unit, String key, String floorKey) {
    }

    private static final List<Panel> PANELS = List.of(
            new Panel("End to end (quick-start cluster, `true`)", "tasks/s", "e2eTasksPerSecond", "floorPerSecond"),
            new Panel("Master CPU per task", "ms", "masterCpuMsPerTask", null),
            new Panel("Agent CPU per task, with the commands it ran", "ms", "agentCpuMsPerTask", "floorCpuMsPerSpawn"),
            new Panel("Agent JVM CPU per task, commands excluded", "ms", "agentJvmCpuMsPerTask", null),
            new Panel("Dispatch p50 at half load, minus one spawn", "ms", "dispatchP50Ms", null),
            new Panel("Intake, workers busy, 8 clients", "submissions/s", "intakeLowPerSecond", null),
            new Panel("Intake, workers busy, 64 clients", "submissions/s", "intakeLow64PerSecond", null),
            new Panel("Intake p99, 8 clients", "ms", "intakeLowP99Ms", null),
            new Panel("Intake p99, open loop at 2,000/s offered", "ms", "intakeOpen2000P99Ms", null),
            new Panel("Intake, batches of 1,000", "tasks/s", "intakeBatchTasksPerSecond", null),
            new Panel("Master RSS with 100,000+ queued", "MiB", "masterRssWithQueueMib", null),
            new Panel("Drain, 1,000 simulated agents", "tasks/s", "sim1000DrainPerSecond", null),
            new Panel("Master CPU per task, 1,000 simulated agents", "ms", "sim1000MasterCpuMsPerTask", null));
    private static final String[] COLOURS = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1"};

    private Chart() {
    }

    /**
     * Draws the chart of a results file again, for runs gathered from several benchmark runs (the README's chart puts
     * the figures of the code before a change beside those after it): {@code Chart results.json results.svg}.
     */
    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: Chart RESULTS_JSON OUT_SVG");
            System.exit(2);
        }
        try (Reader in = Files.newBufferedReader(Path.of(args[0])); JsonReader reader = Json.createReader(in)) {
            Files.writeString(Path.of(args[1]), svg(reader.readObject().getJsonArray("runs").getValuesAs(JsonObject.class)));
        }
    }

    static String svg(List<JsonObject> runs) {
        int width = 760;
        int rowHeight = 18;
        int panelHeight = 34 + rowHeight * (runs.size() + 1);
        StringBuilder svg = new StringBuilder();
        svg.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                + "font-family=\"sans-serif\" font-size=\"11\">%n", width, panelHeight * PANELS.size() + 10));
        svg.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        int y = 10;
        for (Panel panel : PANELS) {
            svg.append(String.format(Locale.ROOT, "<text x=\"10\" y=\"%d\" font-weight=\"bold\">%s (%s)</text>%n",
                    y + 12, escape(panel.title()), panel.unit()));
            double max = 0;
            for (JsonObject run : runs) {
                max = Math.max(max, value(run, panel.key()));
                if (panel.floorKey() != null) {
                    max = Math.max(max, value(run, panel.floorKey()));
                }
            }
            max = max <= 0 ? 1 : max;
            int row = y + 22;
            for (int i = 0; i < runs.size(); i++) {
                JsonObject run = runs.get(i);
                double v = value(run, panel.key());
                int bar = (int) Math.round(Math.max(0, v) / max * 420);
                svg.append(String.format(Locale.ROOT, "<text x=\"10\" y=\"%d\">%s</text>%n", row + 12,
                        escape(run.getString("label", "") + " / " + run.getString("db", ""))));
                svg.append(String.format(Locale.ROOT, "<rect x=\"200\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>%n",
                        row + 2, bar, rowHeight - 4, COLOURS[i % COLOURS.length]));
                svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">%s</text>%n", 205 + bar, row + 12,
                        Double.isNaN(v) ? "n/a" : format(v)));
                if (panel.floorKey() != null && !Double.isNaN(value(run, panel.floorKey()))) {
                    int floor = (int) Math.round(value(run, panel.floorKey()) / max * 420);
                    svg.append(String.format(Locale.ROOT, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"black\" "
                            + "stroke-dasharray=\"3,2\"/>%n", 200 + floor, 200 + floor, row, row + rowHeight));
                }
                row += rowHeight;
            }
            if (panel.floorKey() != null) {
                svg.append(String.format(Locale.ROOT, "<text x=\"200\" y=\"%d\" fill=\"#555\">dashed: the machine's own "
                        + "figure (spawn floor, VFORK, same run)</text>%n", row + 12));
            }
            y += panelHeight;
        }
        return svg.append("</svg>\n").toString();
    }

    private static double value(JsonObject run, String key) {
        JsonValue value = run.get(key);
        return value instanceof JsonNumber number ? number.doubleValue() : Double.NaN;
    }

    private static String format(double v) {
        return v >= 100 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.2f", v);
    }

    private static String escape(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
