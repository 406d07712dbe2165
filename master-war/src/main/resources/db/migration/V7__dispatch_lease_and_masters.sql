-- The dispatch lease: masters of one database take turns holding it, and only its holder hands out work. EPOCH grows
-- by one with every new holder, and every write of the holder checks it in the same transaction, so a master that was
-- paused or cut off past its lease cannot write over what the next holder did. Times are the database's clock, with
-- their time zone (a session's LOCALTIMESTAMP is in its JVM's zone), so masters whose clocks or zones disagree still
-- agree on when a lease ends.
CREATE TABLE IF NOT EXISTS TG_LEASE (
    NAME         VARCHAR(40)  NOT NULL PRIMARY KEY,
    HOLDER       VARCHAR(128),
    EPOCH        BIGINT       NOT NULL,
    EXPIRES_AT   TIMESTAMP WITH TIME ZONE NOT NULL
);
INSERT INTO TG_LEASE (NAME, HOLDER, EPOCH, EXPIRES_AT)
    VALUES ('dispatch', NULL, 0, TIMESTAMP WITH TIME ZONE '2000-01-01 00:00:00+00:00');

-- Every master that ever started on this database, with when it last renewed its presence: which one is active,
-- which stand by, and how to reach them (the standby's refusals name the active master).
CREATE TABLE IF NOT EXISTS TG_MASTER (
    ID           VARCHAR(128) NOT NULL PRIMARY KEY,
    ROLE         VARCHAR(16)  NOT NULL,
    STARTED_AT   TIMESTAMP WITH TIME ZONE NOT NULL,
    SEEN_AT      TIMESTAMP WITH TIME ZONE NOT NULL
);
