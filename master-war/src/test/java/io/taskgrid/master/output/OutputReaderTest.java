package io.taskgrid.master.output;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Characters cut by chunk boundaries are never shown as garbage. */
class OutputReaderTest {

    @Test
    void anIncompleteCharacterAtTheEndIsFoundAndLeftForLater() {
        byte[] euro = "€".getBytes(StandardCharsets.UTF_8); // 3 bytes
        byte[] text = ("ab" + "€").getBytes(StandardCharsets.UTF_8);
        assertThat(OutputReader.completeLength(text)).isEqualTo(text.length);
        assertThat(OutputReader.completeLength(new byte[] {'a', euro[0]})).isEqualTo(1);
        assertThat(OutputReader.completeLength(new byte[] {'a', euro[0], euro[1]})).isEqualTo(1);
        assertThat(OutputReader.completeLength(new byte[] {euro[0], euro[1], euro[2]})).isEqualTo(3);
        assertThat(OutputReader.completeLength(new byte[] {(byte) 0xF0, (byte) 0x9F, (byte) 0x98})).isZero();
        assertThat(OutputReader.completeLength(new byte[0])).isZero();
    }

    @Test
    void partsThatMeetMidCharacterAreJoined() {
        byte[] euro = "€".getBytes(StandardCharsets.UTF_8);
        List<OutputWindow.Part> joined = OutputReader.joinCutCharacters(List.of(
                new OutputWindow.Part(0, new byte[] {'a', euro[0]}, 0, 1),
                new OutputWindow.Part(2, new byte[] {euro[1], euro[2], 'b'}, 0, 2)));
        assertThat(joined).singleElement().satisfies(p ->
                assertThat(OutputReader.decode(p.data(), p.data().length)).isEqualTo("a€b"));
        assertThat(OutputReader.decode(new byte[] {'a', (byte) 0xFF}, 2)).isEqualTo("a\uFFFD");
    }
}
