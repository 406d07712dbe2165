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
 * The benchmark, small: every phase runs once end to end on a cluster of its own (other ports than the shared one),
 * the simulated agents with 10 and 50 agents, so that the benchmark keeps working. No figure is asserted: machines
 * differ; only that each was measured, and that the simulated agents drained what was queued. Other ports:
 * {@code -Dtaskgrid.bench.http.port=P -Dtaskgrid.bench.grpc.port=Q}.
 */
class BenchmarkSmokeIT {

    @Test
    void everyFigureIsMeasuredAndWritten() throws Exception {
        Path out = Path.of(SharedCluster.property("taskgrid.log.dir"), "bench-smoke");
        System.setProperty("taskgrid.bench.noexit", "true");
        Benchmark.main(new String[]{"--liberty", SharedCluster.property("taskgrid.wlp.dir"),
                "--agent-jar", SharedCluster.property("taskgrid.agent.jar"), "--out", out.toString(),
                "--db", "h2", "--label", "smoke", "--scale", "smoke", "--http-port", System.getProperty("taskgrid.bench.http.port", "21192"), "--grpc-port",
                System.getProperty("taskgrid.bench.grpc.port", "21151")});
        JsonObject run;
        try (JsonReader reader = Json.createReader(new StringReader(Files.readString(out.resolve("results.json"))))) {
            run = reader.readObject().getJsonArray("runs").getJsonObject(0);
        }
        for (String figure : new String[]{"floorPerSecond", "floorAfterE2ePerSecond", "e2eTasksPerSecond", "e2eRatioToFloor", "masterCpuMsPerTask",
                "agentCpuMsPerTask", "agentJvmCpuMsPerTask", "dispatchP50Ms", "dispatchP99Ms", "intakeLowPerSecond",
                "intakeLowP99Ms", "intakeLow64PerSecond", "intakeLow64P99Ms", "intakeHighPerSecond",
                "intakeHigh64PerSecond", "masterHeapWithQueueMib", "masterRssWithQueueMib", "masterReadySeconds",
                "agentIdleRssMib", "agentRssAfterTasksMib", "warmupRounds", "warmupSeconds", "intakeOpen100P99Ms",
                "intakeOpen300AchievedPerSecond", "sim10DrainPerSecond", "sim10MasterCpuMsPerTask",
                "sim50DrainPerSecond"}) {
            assertThat(run.containsKey(figure) && !run.isNull(figure)).as(figure).isTrue();
        }
        // Where the CPU went: the busiest threads of the master and of each agent, and of the master per agent count.
        assertThat(run.getJsonArray("e2eMasterThreads")).isNotEmpty();
        assertThat(run.getJsonArray("e2eMasterThreads").getJsonObject(0).getString("thread")).isNotBlank();
        assertThat(run.getJsonObject("e2eAgentThreads")).hasSize(3);
        assertThat(run.getJsonArray("warmupTasksPerSecond")).hasSize(run.getInt("warmupRounds"));
        assertThat(run.getJsonArray("intakeOpenLoop")).hasSize(2);
        assertThat(run.getJsonArray("simAgents")).hasSize(2).allSatisfy(round -> {
            JsonObject r = round.asJsonObject();
            assertThat(r.getBoolean("drained")).as("drained: " + r).isTrue();
            assertThat(r.getJsonNumber("taken").longValue()).isEqualTo(r.getInt("tasks"));
            assertThat(r.getJsonNumber("refused").longValue()).isZero();
        });
        assertThat(run.getJsonObject("phaseSeconds")).containsKeys("warmup", "e2e", "dispatch", "agents", "intake");
        if ("yes".equals(run.getString("batchSubmit"))) {
            assertThat(run.isNull("intakeBatchTasksPerSecond")).isFalse();
            assertThat(run.getJsonNumber("intakeBatchErrors").longValue()).isZero();
        }
        assertThat(run.getInt("e2eNotSucceeded")).isZero();
        assertThat(Files.readString(out.resolve("results.svg"))).startsWith("<svg").contains("End to end");
    }
}
