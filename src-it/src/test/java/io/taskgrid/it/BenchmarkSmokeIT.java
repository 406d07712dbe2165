package io.taskgrid.it;

import io.taskgrid.it.bench.Benchmark;
import jakarta.json.Json;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import org.junit.jupiter.api.Test;

import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The benchmark, small: every measurement runs once end to end on a cluster of its own (other ports than the shared
 * one), so that the benchmark keeps working. No figure is asserted: machines differ; only that each was measured.
 */
class BenchmarkSmokeIT {

    @Test
    void everyFigureIsMeasuredAndWritten() throws Exception {
        Path out = Path.of(SharedCluster.property("taskgrid.log.dir"), "bench-smoke");
        System.setProperty("taskgrid.bench.noexit", "true");
        Benchmark.main(new String[]{"--liberty", SharedCluster.property("taskgrid.wlp.dir"),
                "--agent-jar", SharedCluster.property("taskgrid.agent.jar"), "--out", out.toString(),
                "--db", "h2", "--label", "smoke", "--scale", "smoke", "--http-port", "39192", "--grpc-port", "39151"});
        JsonObject run;
        try (JsonReader reader = Json.createReader(new StringReader(Files.readString(out.resolve("results.json"))))) {
            run = reader.readObject().getJsonArray("runs").getJsonObject(0);
        }
        for (String figure : new String[]{"floorPerSecond", "e2eTasksPerSecond", "e2eRatioToFloor", "masterCpuMsPerTask",
                "agentCpuMsPerTask", "dispatchP50Ms", "dispatchP99Ms", "intakeLowPerSecond", "intakeLowP99Ms",
                "intakeHighPerSecond", "masterHeapWithQueueMib", "masterReadySeconds", "agentIdleRssMib"}) {
            assertThat(run.containsKey(figure) && !run.isNull(figure)).as(figure).isTrue();
        }
        assertThat(run.getInt("e2eNotSucceeded")).isZero();
        assertThat(Files.readString(out.resolve("results.svg"))).startsWith("<svg").contains("End to end");
    }
}
