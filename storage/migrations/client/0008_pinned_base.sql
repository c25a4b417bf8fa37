-- A mutation a relay forwarded with a base moved back before upstream changes its sender had not
-- seen (engine/client/forward.cc) keeps that base: acknowledging an earlier mutation of the record
-- does not rebase it.
ALTER TABLE outbox ADD COLUMN base_pinned INTEGER NOT NULL DEFAULT 0;
