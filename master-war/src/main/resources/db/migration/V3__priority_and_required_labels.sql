-- Priorities (0 to 9, higher first) and the labels a task requires of its worker (canonical "key=value,..." form,
-- keys sorted; NULL for any worker). The queue index serves the start-up load in dispatch order and any query of the
-- queue by priority; the dispatcher itself keeps the queue in memory.

ALTER TABLE TG_TASK ADD COLUMN PRIORITY INTEGER DEFAULT 5 NOT NULL;
ALTER TABLE TG_TASK ADD COLUMN REQUIRES VARCHAR(2048);
ALTER TABLE TG_TASK ADD CONSTRAINT TG_TASK_PRIORITY_CHECK CHECK (PRIORITY BETWEEN 0 AND 9);
CREATE INDEX TG_TASK_QUEUE ON TG_TASK (STATE, PRIORITY, ID);
