package io.taskgrid.master.output;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The head-and-tail cap as the master applies it to chunks, and as readers see the result. */
class OutputWindowTest {

    private final OutputWindow window = new OutputWindow(20); // head 10, tail 10

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String text(List<OutputWindow.Part> parts) {
        return new String(OutputWindow.render(parts), StandardCharsets.UTF_8);
    }

    @Test
    void theHeadIsStoredWithoutGapsAndResentBytesAreNotStoredTwice() {
        assertThat(window.accept(0, 0, 4)).isEqualTo(new OutputWindow.Decision(true, 0, 4, 0));
        // a gap in the head: refused, the agent sends again from the end it was told
        assertThat(window.accept(4, 6, 2)).isEqualTo(new OutputWindow.Decision(false, 0, 4, 0));
        // a resend overlapping what is stored: only the new part
        assertThat(window.accept(4, 2, 5)).isEqualTo(new OutputWindow.Decision(true, 2, 7, 0));
        // all of it stored already
        assertThat(window.accept(7, 0, 7)).isEqualTo(new OutputWindow.Decision(false, 0, 7, 0));
    }

    @Test
    void pastTheHeadTheAgentMaySkipAheadAndOldTailRowsFallOutOfTheWindow() {
        OutputWindow.Decision skip = window.accept(10, 50, 5);
        assertThat(skip.store()).isTrue();
        assertThat(skip.newEnd()).isEqualTo(55);
        assertThat(skip.dropBelow()).isEqualTo(45);
        assertThat(window.accept(12, 12, 3).dropBelow()).as("window not full yet").isZero();
    }

    @Test
    void readersSeeTheHeadAMarkerForWhatWentAndTheLastHalf() {
        List<OutputWindow.Piece> pieces = new ArrayList<>();
        String printed = "0123456789abcdefghijklmnopqrstuvwxyz"; // 36 bytes
        for (int at = 0; at < printed.length(); at += 6) {
            pieces.add(new OutputWindow.Piece(at, bytes(printed.substring(at, at + 6)), at));
        }
        assertThat(text(window.visible(pieces, 36, 0)))
                .isEqualTo("0123456789\n[taskgrid: 16 bytes dropped]\nqrstuvwxyz");
        // from an offset inside the dropped part: the marker counts from there
        assertThat(text(window.visible(pieces, 36, 20))).isEqualTo("\n[taskgrid: 6 bytes dropped]\nqrstuvwxyz");
        assertThat(text(window.visible(pieces, 36, 30))).isEqualTo("uvwxyz");
        assertThat(text(window.visible(pieces, 36, 36))).isEmpty();
        // everything fits: no marker
        assertThat(text(window.visible(pieces.subList(0, 3), 18, 0))).isEqualTo("0123456789abcdefgh");
    }

    @Test
    void aFinalReportsHeadMarkerAndTailBecomeTheStoredPieces() {
        String kept = "0123456789" + "\n[taskgrid: 16 bytes dropped]\n" + "qrstuvwxyz";
        List<OutputWindow.Piece> pieces = window.fromFinalReport(bytes(kept), 36);
        assertThat(pieces).extracting(OutputWindow.Piece::offset).containsExactly(0L, 26L);
        assertThat(text(window.visible(pieces, 36, 0))).isEqualTo(kept);
        assertThat(window.fromFinalReport(bytes("short"), 5)).singleElement()
                .satisfies(p -> assertThat(p.offset()).isZero());
        assertThat(window.fromFinalReport(bytes("not that shape"), 36)).as("another cap: nothing rebuilt").isEmpty();
        assertThat(window.fromFinalReport(new byte[0], 0)).isEmpty();
    }
}
