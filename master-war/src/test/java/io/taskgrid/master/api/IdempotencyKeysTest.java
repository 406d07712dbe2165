package io.taskgrid.master.api;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class IdempotencyKeysTest {

    @Test
    void theSameKeyOfTwoCallersIsTwoKeys() {
        assertThat(IdempotencyKeys.scoped("alice", "k1")).isNotEqualTo(IdempotencyKeys.scoped("bob", "k1"))
                .isEqualTo(IdempotencyKeys.scoped("alice", "k1"));
        // The separator keeps "ab"+"c" and "a"+"bc" apart.
        assertThat(IdempotencyKeys.scoped("ab", "c")).isNotEqualTo(IdempotencyKeys.scoped("a", "bc"));
        assertThat(IdempotencyKeys.scoped("alice", null)).isNull();
        assertThat(IdempotencyKeys.scoped("a".repeat(128), "k".repeat(255))).hasSizeLessThanOrEqualTo(255);
    }

    @Test
    void aKeyIsVisibleAsciiOfAtMost255Characters() {
        assertThat(IdempotencyKeys.validate("order-42")).isEqualTo("order-42");
        assertThat(IdempotencyKeys.validate(null)).isNull();
        for (String bad : new String[]{"", "has space", "k".repeat(256), "tab\t", "é"}) {
            assertThatThrownBy(() -> IdempotencyKeys.validate(bad)).isInstanceOf(ApiProblem.class);
        }
    }
}
