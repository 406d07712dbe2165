package io.taskgrid.it;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Holds the documentation (README.md and every page under docs/) to what it promises a reader:
 * <ul>
 * <li>every shell block ({@code ```sh}, {@code ```bash}, {@code ```console}, {@code ```shell}) says on the line before
 * its fence whether a test runs it, {@code <!-- run by: OperatorDeploymentIT -->} (several names separated by commas),
 * or it is {@code <!-- illustrative -->} (optionally {@code <!-- illustrative: why -->}). A named test must exist as a
 * source file of some module and mention the page's file name, so that the claim cannot go stale unseen;</li>
 * <li>every relative link (a page, a picture, {@code page.md#anchor}, {@code #anchor}) leads to a file that exists and,
 * with an anchor, to a heading of that file, by GitHub's rules for anchors;</li>
 * <li>the README stays a front door: at most 220 lines, with a link to every page directly under docs/.</li>
 * </ul>
 * A plain unit test: it reads files of the checkout and starts nothing.
 */
class DocsCommandsTest {

    private static final Path PROJECT = Path.of("..").toAbsolutePath().normalize();
    private static final Path README = PROJECT.resolve("README.md");
    private static final Path DOCS = PROJECT.resolve("docs");
    private static final int README_MAX_LINES = 220;

    private static final Set<String> SHELL = Set.of("sh", "bash", "console", "shell");
    private static final Pattern RUN_BY = Pattern.compile("<!-- run by: ([A-Za-z0-9_]+(?:, [A-Za-z0-9_]+)*) -->");
    private static final Pattern ILLUSTRATIVE = Pattern.compile("<!-- illustrative(?:: [^>]+)? -->");
    private static final Pattern LINK = Pattern.compile("\\]\\(([^()\\s]+)\\)");
    private static final Pattern HEADING = Pattern.compile("^#{1,6} +(.+?)\\s*#*\\s*$");

    @Test
    void theReadmeIsAShortFrontDoorThatLinksEveryPage() throws IOException {
        List<String> lines = Files.readAllLines(README);
        assertThat(lines).as("README.md lines").hasSizeLessThanOrEqualTo(README_MAX_LINES);
        String readme = String.join("\n", lines);
        try (Stream<Path> files = Files.list(DOCS)) {
            List<String> pages = files.filter(f -> f.toString().endsWith(".md"))
                    .map(f -> "docs/" + f.getFileName()).sorted().toList();
            assertThat(pages).as("pages under docs/").isNotEmpty();
            for (String page : pages) {
                assertThat(readme).as("README.md links " + page).contains("](" + page);
            }
        }
    }

    @Test
    void everyShellBlockIsRunByATestOrMarkedIllustrative() throws IOException {
        Map<String, Path> sources = testAndMainSources();
        List<String> problems = new ArrayList<>();
        int blocks = 0;
        int runByTests = 0;
        for (Path page : pages()) {
            List<String> lines = Files.readAllLines(page);
            String name = page.getFileName().toString();
            for (Fence fence : fences(lines)) {
                if (!SHELL.contains(fence.info())) {
                    continue;
                }
                blocks++;
                String where = PROJECT.relativize(page) + ":" + (fence.line() + 1);
                String before = fence.line() == 0 ? "" : lines.get(fence.line() - 1).strip();
                Matcher runBy = RUN_BY.matcher(before);
                if (runBy.matches()) {
                    runByTests++;
                    for (String test : runBy.group(1).split(", ")) {
                        Path source = sources.get(test);
                        if (source == null) {
                            problems.add(where + ": run by " + test + ", which is no class of any module");
                        } else if (!Files.readString(source).contains(name)) {
                            problems.add(where + ": run by " + test + ", but " + PROJECT.relativize(source)
                                    + " never mentions " + name);
                        }
                    }
                } else if (!ILLUSTRATIVE.matcher(before).matches()) {
                    problems.add(where + ": a ```" + fence.info() + " block without <!-- run by: TestClass --> or "
                            + "<!-- illustrative --> on the line before it");
                }
            }
        }
        assertThat(problems).as("shell blocks of the documentation").isEmpty();
        assertThat(blocks).as("shell blocks found").isGreaterThan(10);
        assertThat(runByTests).as("shell blocks run by a test").isGreaterThanOrEqualTo(3);
    }

    @Test
    void everyRelativeLinkLeadsToAFileAndAHeading() throws IOException {
        Map<Path, Set<String>> anchors = new HashMap<>();
        List<String> problems = new ArrayList<>();
        int links = 0;
        for (Path page : pages()) {
            List<String> lines = Files.readAllLines(page);
            boolean[] inFence = inFence(lines);
            for (int i = 0; i < lines.size(); i++) {
                if (inFence[i]) {
                    continue;
                }
                Matcher link = LINK.matcher(lines.get(i));
                while (link.find()) {
                    String target = link.group(1);
                    if (target.matches("^[a-z][a-z0-9+.-]*:.*")) {
                        continue; // https:, mailto: ...: not ours to check offline
                    }
                    links++;
                    String where = PROJECT.relativize(page) + ":" + (i + 1) + ": " + target;
                    int hash = target.indexOf('#');
                    String file = hash < 0 ? target : target.substring(0, hash);
                    String anchor = hash < 0 ? "" : target.substring(hash + 1);
                    Path resolved = file.isEmpty() ? page : page.getParent().resolve(file).normalize();
                    if (!resolved.startsWith(PROJECT) || !Files.exists(resolved)) {
                        problems.add(where + ": no such file");
                    } else if (!anchor.isEmpty()) {
                        if (!resolved.toString().endsWith(".md")) {
                            problems.add(where + ": an anchor into a file that is not a page");
                        } else if (!anchors.computeIfAbsent(resolved, DocsCommandsTest::anchors).contains(anchor)) {
                            problems.add(where + ": no heading with that anchor in " + PROJECT.relativize(resolved));
                        }
                    }
                }
            }
        }
        assertThat(problems).as("relative links of the documentation").isEmpty();
        assertThat(links).as("relative links found").isGreaterThan(20);
    }

    @Test
    void anchorsFollowGithubsRules() {
        assertThat(slug("Deploying master.war on your own Liberty")).isEqualTo("deploying-masterwar-on-your-own-liberty");
        assertThat(slug("`GET /tasks/{id}/output?stream=&offset=&follow=`"))
                .isEqualTo("get-tasksidoutputstreamoffsetfollow");
        assertThat(slug("Who the quick start's tasks run as")).isEqualTo("who-the-quick-starts-tasks-run-as");
        assertThat(slug("Rotating the key that seals `secretEnv`")).isEqualTo("rotating-the-key-that-seals-secretenv");
        assertThat(slug("A [link](x.md) in a_heading")).isEqualTo("a-link-in-a_heading");
    }

    /** README.md and every page under docs/, in a fixed order. */
    private static List<Path> pages() throws IOException {
        List<Path> pages = new ArrayList<>(List.of(README));
        try (Stream<Path> files = Files.walk(DOCS)) {
            files.filter(f -> f.toString().endsWith(".md")).sorted().forEach(pages::add);
        }
        return pages;
    }

    /** An opening fence: its line (from 0) and its info string's first word, lower case. */
    private record Fence(int line, String info) {
    }

    private static List<Fence> fences(List<String> lines) {
        List<Fence> fences = new ArrayList<>();
        boolean open = false;
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (!line.startsWith("```")) {
                continue;
            }
            if (!open) {
                String info = line.substring(3).strip();
                int space = info.indexOf(' ');
                fences.add(new Fence(i, (space < 0 ? info : info.substring(0, space)).toLowerCase(Locale.ROOT)));
            }
            open = !open;
        }
        assertThat(open).as("every fence is closed").isFalse();
        return fences;
    }

    /** For each line, whether it is part of a fenced block (its fences included). */
    private static boolean[] inFence(List<String> lines) {
        boolean[] in = new boolean[lines.size()];
        boolean open = false;
        for (int i = 0; i < lines.size(); i++) {
            boolean fence = lines.get(i).strip().startsWith("```");
            in[i] = open || fence;
            if (fence) {
                open = !open;
            }
        }
        return in;
    }

    /** The anchors GitHub gives the headings of a page (outside fenced blocks); a repeated one gets -1, -2, ... */
    private static Set<String> anchors(Path page) {
        try {
            List<String> lines = Files.readAllLines(page);
            boolean[] inFence = inFence(lines);
            Map<String, Integer> seen = new TreeMap<>();
            Set<String> anchors = new LinkedHashSet<>();
            for (int i = 0; i < lines.size(); i++) {
                Matcher heading = HEADING.matcher(lines.get(i));
                if (!inFence[i] && heading.matches()) {
                    String slug = slug(heading.group(1));
                    int count = seen.merge(slug, 1, Integer::sum);
                    anchors.add(count == 1 ? slug : slug + "-" + (count - 1));
                }
            }
            return anchors;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * GitHub's anchor of a heading: the text of its links, lower case, every character but letters, digits, spaces,
     * {@code -} and {@code _} dropped, spaces turned into {@code -}.
     */
    static String slug(String heading) {
        String text = heading.replaceAll("\\[([^\\]]*)\\]\\([^)]*\\)", "$1").toLowerCase(Locale.ROOT);
        StringBuilder slug = new StringBuilder();
        text.codePoints().forEach(c -> {
            if (Character.isLetterOrDigit(c) || c == '-' || c == '_') {
                slug.appendCodePoint(c);
            } else if (c == ' ') {
                slug.append('-');
            }
        });
        return slug.toString();
    }

    /** Every class of every module's src/main/java and src/test/java, by simple name. */
    private static Map<String, Path> testAndMainSources() throws IOException {
        Map<String, Path> sources = new TreeMap<>();
        try (Stream<Path> modules = Files.list(PROJECT)) {
            for (Path module : modules.filter(m -> Files.isRegularFile(m.resolve("pom.xml"))).toList()) {
                for (String root : List.of("src/main/java", "src/test/java")) {
                    Path dir = module.resolve(root);
                    if (!Files.isDirectory(dir)) {
                        continue;
                    }
                    try (Stream<Path> files = Files.walk(dir)) {
                        files.filter(f -> f.toString().endsWith(".java")).forEach(f -> sources.putIfAbsent(
                                f.getFileName().toString().replaceFirst("\\.java$", ""), f));
                    }
                }
            }
        }
        assertThat(sources).as("sources found under " + PROJECT).containsKey("DocsCommandsTest");
        return sources;
    }
}
