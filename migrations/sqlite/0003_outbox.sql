-- 0003: changes waiting to be sent to the provincial platform. A row is written in the same
-- transaction as the change it announces, so nothing the owner submitted is lost or sent without
-- having been committed.

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    registration_id INTEGER NOT NULL REFERENCES registrations (id),
    kind            TEXT NOT NULL CHECK (kind IN ('register', 'update_contact')),
    state           TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'done', 'dead', 'discarded')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_until     TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
-- One registration event per registration: signing a newer agreement does not queue it again.
CREATE UNIQUE INDEX outbox_one_register ON outbox (registration_id) WHERE kind = 'register';

-- What the province said about a registration (its reason when it rejected one).
ALTER TABLE registrations ADD COLUMN sync_reason TEXT;
