-- Retention deletes finished tasks by age: an index on the end time finds the oldest without reading the table.
-- Tasks that have not ended have no end time and take no room in the ordering that matters.
CREATE INDEX IF NOT EXISTS TG_TASK_FINISHED_AT ON TG_TASK (FINISHED_AT);
