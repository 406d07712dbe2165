package io.taskgrid.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The shell blocks of the documentation's pages (README.md and docs/*.md), for the tests that run them as written.
 * A block is found as the first {@code ```sh} block after a heading line of its page.
 */
final class DocBlocks {

    private DocBlocks() {
    }

    /** A page of the documentation in the checkout under test, e.g. {@code docs/operations.md}. */
    static Path page(String relative) {
        return Path.of(SharedCluster.property("taskgrid.project.dir"), relative);
    }

    /** The first sh block after the line {@code heading} (e.g. {@code "## Deploying on Payara Micro"}), as written. */
    static String block(Path page, String heading) throws IOException {
        String text = Files.readString(page);
        int section = text.startsWith(heading + "\n") ? 0 : text.indexOf("\n" + heading + "\n");
        assertThat(section).as(page + ": heading " + heading).isNotNegative();
        int fence = text.indexOf("```sh\n", section);
        assertThat(fence).as(page + ": an sh block after " + heading).isNotNegative();
        int open = fence + "```sh\n".length();
        int close = text.indexOf("```", open);
        return text.substring(open, close);
    }

    /** The lines of the first sh block after {@code heading}, continuations joined, comments and blank lines left out. */
    static List<String> lines(Path page, String heading) throws IOException {
        String block = block(page, heading).replace("\\\n", " ");
        List<String> lines = new ArrayList<>();
        for (String line : block.split("\n")) {
            int comment = line.indexOf("  #");
            String code = (comment >= 0 ? line.substring(0, comment) : line).strip();
            if (!code.isEmpty()) {
                lines.add(code);
            }
        }
        return lines;
    }
}
