-- The tables as the first releases had them (made by JPA from the entities then). IF NOT EXISTS: a database that
-- already has them (a deployment from before migrations) keeps them and goes on with V2.
-- ${text} is the type of unbounded text: CLOB on H2, TEXT on PostgreSQL.

CREATE TABLE IF NOT EXISTS TG_TASK (
    ID                VARCHAR(36)   NOT NULL PRIMARY KEY,
    CMD               ${text}       NOT NULL,
    STATE             VARCHAR(16)   NOT NULL,
    ENV_JSON          ${text},
    CWD               VARCHAR(4096),
    TIMEOUT_SECONDS   BIGINT,
    WORKER_ID         VARCHAR(64),
    ATTEMPT_ID        VARCHAR(36),
    EXIT_CODE         INTEGER,
    STDOUT_TEXT       ${text},
    STDERR_TEXT       ${text},
    STDOUT_TRUNCATED  BOOLEAN,
    STDERR_TRUNCATED  BOOLEAN,
    REASON            VARCHAR(2000),
    SUBMITTED_AT      TIMESTAMP     NOT NULL,
    ASSIGNED_AT       TIMESTAMP,
    STARTED_AT        TIMESTAMP,
    FINISHED_AT       TIMESTAMP
);

CREATE INDEX IF NOT EXISTS TG_TASK_STATE_ID ON TG_TASK (STATE, ID);

CREATE TABLE IF NOT EXISTS TG_ATTEMPT (
    ID           VARCHAR(36)   NOT NULL PRIMARY KEY,
    TASK_ID      VARCHAR(36)   NOT NULL,
    WORKER_ID    VARCHAR(64)   NOT NULL,
    ASSIGNED_AT  TIMESTAMP     NOT NULL,
    STARTED_AT   TIMESTAMP,
    ENDED_AT     TIMESTAMP,
    OUTCOME      VARCHAR(16),
    REASON       VARCHAR(2000)
);

CREATE INDEX IF NOT EXISTS TG_ATTEMPT_TASK ON TG_ATTEMPT (TASK_ID);

CREATE TABLE IF NOT EXISTS TG_IDEMPOTENCY_KEY (
    IDEMPOTENCY_KEY  VARCHAR(255)  NOT NULL PRIMARY KEY,
    TASK_ID          VARCHAR(36)   NOT NULL,
    REQUEST_HASH     VARCHAR(64)   NOT NULL,
    CREATED_AT       TIMESTAMP     NOT NULL
);
