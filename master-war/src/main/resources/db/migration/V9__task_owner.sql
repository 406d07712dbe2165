-- Which master holds the task in its memory and is the only one that may change it (NULL: no master yet; the next
-- claim takes it). Today the active master owns every task it has taken; once several masters dispatch, each owns
-- what it claimed (docs/design/several-masters-dispatching.md). Kept when the task ends: who ran it.
ALTER TABLE TG_TASK ADD COLUMN OWNER VARCHAR(128);
-- What an active master of the version before held: every unfinished task it had taken (ADOPTED, or no longer queued),
-- owned by the lease's holder, or by a name no master has when no one held it (the next active master takes them over).
UPDATE TG_TASK SET OWNER = COALESCE((SELECT HOLDER FROM TG_LEASE WHERE NAME = 'dispatch'), '(before V9)')
    WHERE STATE IN ('QUEUED', 'ASSIGNED', 'RUNNING') AND (ADOPTED = TRUE OR STATE <> 'QUEUED');
-- ADOPTED stays, written as before, so that a master of the version before still reads what this one stores while
-- masters are upgraded one at a time: unclaimed is OWNER IS NULL AND ADOPTED = FALSE, which V8's index on the unclaimed
-- rows serves; the unfinished tasks a master loads are found by the index on STATE. No new index: building one over
-- every retained row would hold TG_TASK's lock for the length of the build while older masters still write.
