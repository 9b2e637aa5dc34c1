-- 0005: failed sends counted apart from claims. A claim still counts as an attempt (so the worker
-- knows to ask the province before resending), but a server killed while holding rows must not
-- use up their retry budget: only answers that failed count towards the dead-letter list.
ALTER TABLE outbox ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
