package io.taskgrid.master;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The master's packages depend on each other in one direction only (docs/architecture.md): a cycle makes two
 * concepts one, and a newcomer can no longer read one without the other. Read from the sources' imports and fully
 * qualified names, so it needs no library.
 */
class PackageDependenciesTest {

    private static final Path SOURCES = Path.of("src/main/java/io/taskgrid/master");
    private static final Pattern REFERENCE = Pattern.compile("io\\.taskgrid\\.master\\.([a-z]+)\\.");

    @Test
    void noPackageDependsOnItselfThroughAnother() throws IOException {
        Map<String, Set<String>> uses = dependencies();
        assertThat(uses).as("packages found under " + SOURCES).containsKeys("api", "task", "security", "dispatch");
        List<String> cycles = new ArrayList<>();
        for (String from : uses.keySet()) {
            for (String to : uses.get(from)) {
                if (reaches(uses, to, from, new TreeSet<>())) {
                    cycles.add(from + " -> " + to + " -> ... -> " + from);
                }
            }
        }
        assertThat(cycles).as("package cycles in " + uses).isEmpty();
    }

    @Test
    void theTaskAndItsStoreKnowNothingOfTheWaysInAndOut() throws IOException {
        assertThat(dependencies().get("task")).doesNotContain("api", "grpc", "dispatch", "security", "ui", "health",
                "output");
    }

    @Test
    void securityAndTheApiShareTheProblemHelpersWithoutUsingEachOther() throws IOException {
        assertThat(dependencies().get("security")).doesNotContain("api").contains("http");
    }

    private static boolean reaches(Map<String, Set<String>> uses, String from, String target, Set<String> seen) {
        if (from.equals(target)) {
            return true;
        }
        if (!seen.add(from)) {
            return false;
        }
        for (String next : uses.getOrDefault(from, Set.of())) {
            if (reaches(uses, next, target, seen)) {
                return true;
            }
        }
        return false;
    }

    /** Package (the first name under io.taskgrid.master) to the other packages its sources name. */
    static Map<String, Set<String>> dependencies() throws IOException {
        Map<String, Set<String>> uses = new TreeMap<>();
        try (Stream<Path> files = Files.walk(SOURCES)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".java")).toList()) {
                Path relative = SOURCES.relativize(file);
                if (relative.getNameCount() < 2) {
                    continue;
                }
                String own = relative.getName(0).toString();
                Set<String> used = uses.computeIfAbsent(own, k -> new TreeSet<>());
                Matcher m = REFERENCE.matcher(Files.readString(file));
                while (m.find()) {
                    if (!m.group(1).equals(own)) {
                        used.add(m.group(1));
                    }
                }
            }
        }
        return uses;
    }
}
