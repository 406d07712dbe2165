package io.taskgrid.it.chaos;

import io.taskgrid.it.TaskgridClient;
import jakarta.json.JsonObject;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;

/**
 * What a chaos scenario did to its tasks, counted from outside: how many ran (a marker line on disk), how many ran
 * more than once, how many the API says were lost or did not succeed.
 */
record Tally(int accepted, int ran, int duplicates, int lost, int notSucceeded) {

    /** Waits for every task (name to id) to end, then counts; each task's run count comes from its markers. */
    static Tally of(ChaosCluster cluster, TaskgridClient api, Map<String, String> ids, Duration finalWait) {
        int ran = 0;
        int duplicates = 0;
        int lost = 0;
        int notSucceeded = 0;
        for (Map.Entry<String, String> task : ids.entrySet()) {
            JsonObject done = api.awaitFinal(task.getValue(), finalWait);
            int runs = cluster.runs(task.getKey());
            ran += runs > 0 ? 1 : 0;
            duplicates += Math.max(0, runs - 1);
            lost += done.getString("state").equals("LOST") ? 1 : 0;
            notSucceeded += done.getString("state").equals("SUCCEEDED") ? 0 : 1;
        }
        return new Tally(ids.size(), ran, duplicates, lost, notSucceeded);
    }

    /** When the last of these (ended) tasks finished. */
    static Instant lastFinish(TaskgridClient api, Iterable<String> ids) {
        Instant last = Instant.EPOCH;
        for (String id : ids) {
            Instant finished = Instant.parse(api.task(id).getString("finishedAt"));
            last = finished.isAfter(last) ? finished : last;
        }
        return last;
    }

    void print(String scenario, Duration recovery) {
        System.out.printf("CHAOS %s: accepted=%d ran=%d duplicates=%d lost=%d not-succeeded=%d recovery=%d ms%n",
                scenario, accepted, ran, duplicates, lost, notSucceeded, recovery.toMillis());
    }
}
