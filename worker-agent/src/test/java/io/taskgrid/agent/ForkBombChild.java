package io.taskgrid.agent;

import io.taskgrid.proto.v1.Assignment;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The far side of {@link ForkBombTest}, in a JVM of its own as an unprivileged user under a process limit, alone in a
 * PID namespace: runs a fork bomb ({@code perl} or {@code shell}) with {@link CommandRun}, stopped by its timeout, a
 * cancel, or (its shell having exited at once) as leftovers, then prints one line:
 * {@code RESULT <outcome> <millis> <processes left> <reason>}.
 */
final class ForkBombChild {

    private ForkBombChild() {
    }

    public static void main(String[] args) throws Exception {
        String mode = args[0];
        String kind = args[1];
        // Threads this JVM needs later, made while it still can: the bomb leaves none to be had (threads count
        // against the same limit). A first command starts the agent's output pump and leftover sweeper.
        new CommandRun(task("true", 0), Duration.ofSeconds(1)).run(() -> { });
        CommandRun run = new CommandRun(task(command(kind, mode.equals("exits")), mode.equals("timeout") ? 3 : 0),
                Duration.ofSeconds(1));
        CountDownLatch started = new CountDownLatch(1);
        Thread canceller = new Thread(() -> {
            try {
                started.await();
                Thread.sleep(3000);
            } catch (InterruptedException e) {
                return;
            }
            if (mode.equals("cancel")) {
                run.cancel();
            }
        }, "canceller");
        canceller.setDaemon(true);
        canceller.start();
        long start = System.nanoTime();
        CommandResult result = run.run(started::countDown);
        long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        // Whatever is left forks on: a moment for it to show.
        Thread.sleep(1000);
        System.out.println("RESULT " + result.outcome() + " " + took + " " + othersRunning() + " "
                + Log.oneLine(String.valueOf(result.reason())));
        System.out.flush();
        System.exit(0);
    }

    /**
     * The bomb. {@code perl}: every process forks again at once, and again when that fails, so the user's processes
     * stay used up to the last one (a slot that frees is taken within microseconds; nice, so that this machine's
     * other work goes first). {@code shell}: the classic one, whose processes exit when a fork fails, freeing slots
     * now and then. {@code exits}: the command's shell leaves it running in the background and exits.
     */
    private static String command(String kind, boolean exits) {
        if (kind.equals("perl")) {
            String bomb = "nice -n 19 perl -e 'fork while 1'";
            // Exiting, the shell first lets the bomb fill every slot (counting without forking).
            return exits ? bomb + " & i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done" : "exec " + bomb;
        }
        String bomb = "b(){ b|b& }; b";
        return exits ? bomb : bomb + "; exec sleep 600";
    }

    private static Assignment task(String cmd, long timeoutSeconds) {
        return Assignment.newBuilder().setTaskId("bomb").setAttemptId("bomb-1").setCmd(cmd)
                .setTimeoutSeconds(timeoutSeconds).setOutputLimitBytes(4096).build();
    }

    /** Processes of this namespace still running, but for its first (the shell that reaps) and this JVM. */
    private static int othersRunning() throws IOException {
        long self = ProcessHandle.current().pid();
        int running = 0;
        try (DirectoryStream<Path> processes = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
            for (Path process : processes) {
                long pid = Long.parseLong(process.getFileName().toString());
                if (pid != 1 && pid != self && Procfs.isRunning(pid)) {
                    running++;
                }
            }
        }
        return running;
    }
}
