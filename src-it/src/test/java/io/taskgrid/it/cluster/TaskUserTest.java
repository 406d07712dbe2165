package io.taskgrid.it.cluster;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Who the launcher's tasks run as, on machines where it is root and where it is not. */
class TaskUserTest {

    private final List<String> said = new ArrayList<>();
    private final List<String> made = new ArrayList<>();

    private TaskUser resolve(String setting, boolean root, boolean dedicatedExists, Optional<String> makeFailure) {
        return TaskUser.resolve(setting, root, said::add,
                user -> dedicatedExists && user.equals(TaskUser.DEDICATED) || user.equals("builder"),
                () -> {
                    made.add(TaskUser.DEDICATED);
                    return makeFailure;
                });
    }

    @Test
    void asRootTasksRunAsAUserOfTheirOwnMadeOnceAndSaidSo() {
        TaskUser first = resolve(TaskUser.AUTO, true, false, Optional.empty());
        assertThat(first.runAs()).contains(TaskUser.DEDICATED);
        assertThat(first.warning()).isEmpty();
        assertThat(made).containsExactly(TaskUser.DEDICATED);
        assertThat(said).singleElement().asString().contains("made the user taskgrid-task").contains("userdel");

        TaskUser again = resolve(TaskUser.AUTO, true, true, Optional.empty());
        assertThat(again.runAs()).contains(TaskUser.DEDICATED);
        assertThat(made).hasSize(1);
    }

    @Test
    void withoutRootTasksRunAsTheLaunchersUserAndTheLauncherSaysWhatThatMeans() {
        TaskUser user = resolve(TaskUser.AUTO, false, false, Optional.empty());
        assertThat(user.runAs()).isEmpty();
        assertThat(user.warning()).get().asString().contains("TASKS RUN AS YOUR OWN USER").contains("operator token")
                .contains("becomes operator").contains("as root");
        assertThat(made).isEmpty();
    }

    @Test
    void asRootWithoutUseraddTasksWouldRunAsRootAndTheLauncherSaysSo() {
        TaskUser user = resolve(TaskUser.AUTO, true, false, Optional.of("cannot run useradd: not found"));
        assertThat(user.runAs()).isEmpty();
        assertThat(user.warning()).get().asString().contains("TASKS RUN AS ROOT").contains("useradd: not found")
                .contains("-Dtaskgrid.task.user=");
    }

    @Test
    void aNamedUserNeedsRootAndMustExist() {
        assertThat(resolve("builder", true, false, Optional.empty()).runAs()).contains("builder");
        assertThatThrownBy(() -> resolve("builder", false, false, Optional.empty()))
                .hasMessageContaining("only when the launcher runs as root");
        assertThatThrownBy(() -> resolve("nosuchuser", true, false, Optional.empty()))
                .hasMessageContaining("no user 'nosuchuser'");
    }

    @Test
    void sameIsTheLaunchersUserWithoutAWordForTestsThatChooseIt() {
        TaskUser user = resolve(TaskUser.SAME, true, true, Optional.empty());
        assertThat(user.runAs()).isEmpty();
        assertThat(user.warning()).isEmpty();
    }
}
