-- 0004: the rest of provincial sync: contact updates as their own ordered events, the province's
-- L3 verification answer, telling owners about rejections, and the daily reconciliation.

-- An update event carries what changed (JSON, no ID number); register events read the
-- registration when they are sent.
ALTER TABLE outbox ADD COLUMN payload TEXT;
-- Events of one registration go out in id order: the claim looks for older unfinished ones.
CREATE INDEX outbox_by_registration ON outbox (registration_id, id);

-- The province's L3 (三级实名核验) answer, when L3 is configured.
ALTER TABLE registrations ADD COLUMN l3_result TEXT CHECK (l3_result IN ('pass', 'fail'));
ALTER TABLE registrations ADD COLUMN l3_reason TEXT;
ALTER TABLE registrations ADD COLUMN l3_checked_at TEXT;
-- When the owner was emailed about the province's rejection (NULL: not yet).
ALTER TABLE registrations ADD COLUMN sync_notified_at TEXT;

-- One row per reconciliation run.
CREATE TABLE sync_reconciliations (
    id          INTEGER PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    checked     INTEGER NOT NULL DEFAULT 0,
    repaired    INTEGER NOT NULL DEFAULT 0,
    flagged     INTEGER NOT NULL DEFAULT 0,
    error       TEXT
);

-- Each difference a run found between what we believe and what the province says.
CREATE TABLE sync_discrepancies (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES sync_reconciliations (id),
    registration_id INTEGER NOT NULL REFERENCES registrations (id),
    ours            TEXT NOT NULL,
    theirs          TEXT NOT NULL,
    action          TEXT NOT NULL
        CHECK (action IN ('requeued', 'marked_accepted', 'marked_rejected', 'flagged')),
    created_at      TEXT NOT NULL,
    resolved_at     TEXT
);
CREATE INDEX sync_discrepancies_by_run ON sync_discrepancies (run_id);
