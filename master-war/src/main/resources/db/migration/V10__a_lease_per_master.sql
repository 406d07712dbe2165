-- Every master of a database that several share holds a lease of its own, row 'master:' + its id (up to 128
-- characters): renewed while it lives, its epoch checked by each of its writes, and taken from it once it runs out,
-- which fences it off before its tasks go to other masters. Row 'dispatch' is now the housekeeping master's lease.
ALTER TABLE TG_LEASE ALTER COLUMN NAME SET DATA TYPE VARCHAR(160);
-- Tasks a master of the version before held in memory without naming itself (taken, or no longer queued) belong to
-- a master no one is; each master that owns unfinished tasks gets a lease row that nobody holds, ended now, so that
-- the housekeeping master hands its queue on at once and its attempts once their agents had the grace period to
-- bring them to a master of this version (masters of the version before are all stopped: see README, upgrading).
UPDATE TG_TASK SET OWNER = '(before V10)' WHERE OWNER IS NULL AND STATE IN ('QUEUED', 'ASSIGNED', 'RUNNING')
    AND (ADOPTED = TRUE OR STATE <> 'QUEUED');
INSERT INTO TG_LEASE (NAME, HOLDER, EPOCH, EXPIRES_AT)
    SELECT DISTINCT 'master:' || OWNER, CAST(NULL AS VARCHAR(128)), 0, CURRENT_TIMESTAMP FROM TG_TASK
    WHERE OWNER IS NOT NULL AND STATE IN ('QUEUED', 'ASSIGNED', 'RUNNING');
-- The housekeeping lease is row 'housekeeping'. Row 'dispatch', which a master of the version before takes to become
-- the one that dispatches (and to take over every task), is retired: held for ever by a name no master has, its epoch
-- moved on, so that such a master still running is fenced off at its next write, and one started later stands by
-- for ever instead of handing tasks out a second time.
INSERT INTO TG_LEASE (NAME, HOLDER, EPOCH, EXPIRES_AT)
    VALUES ('housekeeping', NULL, 0, TIMESTAMP WITH TIME ZONE '2000-01-01 00:00:00+00:00');
UPDATE TG_LEASE SET HOLDER = '(retired in V10)', EPOCH = EPOCH + 1,
    EXPIRES_AT = TIMESTAMP WITH TIME ZONE '9999-12-31 00:00:00+00:00' WHERE NAME = 'dispatch';
