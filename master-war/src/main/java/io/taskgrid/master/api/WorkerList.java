package io.taskgrid.master.api;

import jakarta.json.bind.annotation.JsonbPropertyOrder;

import java.util.List;

@JsonbPropertyOrder({"count", "workers"})
public record WorkerList(int count, List<WorkerView> workers) {
}
