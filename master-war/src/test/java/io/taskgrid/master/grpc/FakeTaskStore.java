package io.taskgrid.master.grpc;

import io.taskgrid.master.task.AttemptOwner;
import io.taskgrid.master.task.Task;
import io.taskgrid.master.task.TaskResult;
import io.taskgrid.master.task.TaskStore;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The store as NodeService sees it: who owns which attempt, and a record of what it was asked to write. */
final class FakeTaskStore extends TaskStore {

    final Map<String, AttemptOwner> owners = new HashMap<>();
    final List<String> calls = new ArrayList<>();
    final List<TaskResult> results = new ArrayList<>();
    final List<String> reasons = new ArrayList<>();
    RuntimeException failFinish;
    RuntimeException failFallback;

    void owns(String workerId, String taskId, String attemptId) {
        owners.put(attemptId, new AttemptOwner(attemptId, taskId, workerId));
    }

    @Override
    public Map<String, AttemptOwner> attemptOwners(Collection<String> attemptIds) {
        Map<String, AttemptOwner> found = new HashMap<>();
        attemptIds.forEach(id -> {
            if (owners.containsKey(id)) {
                found.put(id, owners.get(id));
            }
        });
        return found;
    }

    @Override
    public boolean markRunning(String taskId, String attemptId) {
        calls.add("running " + attemptId);
        return true;
    }

    @Override
    public Settled finish(String taskId, String attemptId, TaskResult result) {
        calls.add("finish " + attemptId);
        if (failFinish != null) {
            throw failFinish;
        }
        results.add(result);
        return Settled.FINAL;
    }

    @Override
    public Settled requeueRefused(String taskId, String attemptId, String reason, int refusalLimit) {
        calls.add("refused " + attemptId + " limit " + refusalLimit);
        reasons.add(reason);
        return Settled.REQUEUED;
    }

    @Override
    public boolean failUnstorable(String taskId, String attemptId, String reason) {
        calls.add("unstorable " + attemptId);
        if (failFallback != null) {
            throw failFallback;
        }
        reasons.add(reason);
        return true;
    }

    @Override
    public Map<String, String> openSecretEnv(Task task) {
        return Map.of();
    }
}
