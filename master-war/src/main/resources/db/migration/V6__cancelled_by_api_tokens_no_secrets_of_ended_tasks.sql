-- Who asked for a task's cancel: the caller's name, as SUBMITTED_BY holds the submitter's.
ALTER TABLE TG_TASK ADD COLUMN IF NOT EXISTS CANCELLED_BY VARCHAR(128);

-- A task that has ended keeps no secret: nothing runs it again, and a copy of the database should hold as few
-- secrets as it can. From this version on the master clears the column when a task ends; this clears what earlier
-- versions kept. (The states that end a task, as of this version.)
UPDATE TG_TASK SET SECRET_ENV_SEALED = NULL
    WHERE SECRET_ENV_SEALED IS NOT NULL AND STATE IN ('SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'LOST');

-- API tokens made through the API (POST /tokens), beside the tokens file: in the database, so that every master of
-- one database knows the same ones. Only a hash of each token is kept; ID is what lists and revocations name.
CREATE TABLE IF NOT EXISTS TG_API_TOKEN (
    ID           VARCHAR(32)  NOT NULL PRIMARY KEY,
    TOKEN_HASH   VARCHAR(64)  NOT NULL,
    NAME         VARCHAR(128) NOT NULL,
    ROLE         VARCHAR(16)  NOT NULL,
    CREATED_AT   TIMESTAMP    NOT NULL,
    CREATED_BY   VARCHAR(128) NOT NULL,
    EXPIRES_AT   TIMESTAMP,
    REVOKED_AT   TIMESTAMP,
    REVOKED_BY   VARCHAR(128),
    LAST_USED_AT TIMESTAMP,
    CONSTRAINT TG_API_TOKEN_HASH_UNIQUE UNIQUE (TOKEN_HASH),
    CONSTRAINT TG_API_TOKEN_ROLE_CHECK CHECK (ROLE IN ('VIEWER', 'SUBMITTER', 'OPERATOR'))
);
