package io.taskgrid.master.task;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

class TaskIdsTest {

    @Test
    void idsSortInTheOrderTheyWereMadeEvenWithinOneMillisecond() {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 20_000; i++) {
            ids.add(TaskIds.next());
        }
        List<String> sorted = new ArrayList<>(ids);
        sorted.sort(String::compareTo);
        assertThat(sorted).isEqualTo(ids);
        assertThat(new HashSet<>(ids)).hasSize(ids.size());
    }

    @Test
    void idsAreVersion7Uuids() {
        UUID uuid = UUID.fromString(TaskIds.next());
        assertThat(uuid.version()).isEqualTo(7);
        assertThat(uuid.variant()).isEqualTo(2);
        assertThat(TaskIds.looksValid(uuid.toString())).isTrue();
    }

    @Test
    void looksValidRejectsAnythingElse() {
        assertThat(TaskIds.looksValid(null)).isFalse();
        assertThat(TaskIds.looksValid("")).isFalse();
        assertThat(TaskIds.looksValid("../etc/passwd")).isFalse();
        assertThat(TaskIds.looksValid(TaskIds.next().toUpperCase(Locale.ROOT))).isFalse();
    }
}
