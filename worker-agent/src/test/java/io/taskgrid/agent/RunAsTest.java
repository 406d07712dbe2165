package io.taskgrid.agent;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class RunAsTest {

    @Test
    void anUnprivilegedUserIsLookedUpAndSwitchedToWithSetpriv() throws Exception {
        assumeTrue(java.nio.file.Files.isExecutable(RunAs.SETPRIV), "setpriv is installed");
        RunAs nobody = RunAs.resolve("nobody", true);
        assertThat(nobody.uid()).isPositive();
        assertThat(nobody.commandPrefix()).containsSubsequence(RunAs.SETPRIV.toString(), "--reuid=" + nobody.uid(),
                "--regid=" + nobody.gid(), "--init-groups").endsWith("--");
        assertThat(nobody.commandPrefix().get(0)).isEqualTo(nobody.ownPidNamespace() ? RunAs.UNSHARE.toString()
                : RunAs.SETPRIV.toString());
        assertThat(ProcessTree.commandLine("echo hi", nobody)).containsSubsequence(RunAs.SETPRIV.toString(), "/bin/sh",
                "-c", "echo hi");
    }

    @Test
    void itIsRefusedWhereItCannotIsolateAnything() {
        assertThatThrownBy(() -> RunAs.resolve("nobody", false)).isInstanceOf(RunAs.Unusable.class)
                .hasMessageContaining("root");
        assertThatThrownBy(() -> RunAs.resolve("root", true)).isInstanceOf(RunAs.Unusable.class);
        assertThatThrownBy(() -> RunAs.resolve("no-such-user-xyz", true)).isInstanceOf(RunAs.Unusable.class)
                .hasMessageContaining("no user");
        for (String bad : List.of("-rf", "a b", "x;id", "")) {
            assertThatThrownBy(() -> RunAs.resolve(bad, true)).as(bad).isInstanceOf(RunAs.Unusable.class);
        }
    }
}
