package io.taskgrid.agent;

import java.nio.file.Path;

/** Another agent, as far as a state directory can tell: holds the one named until its stdin closes or it is killed. */
final class HoldStateDirectory {

    private HoldStateDirectory() {
    }

    public static void main(String[] args) throws Exception {
        try (StateDirectory held = StateDirectory.open(Path.of(args[0]))) {
            System.out.println("holding " + held.dir());
            System.out.flush();
            while (System.in.read() >= 0) {
                // until the test lets go
            }
        }
    }
}
