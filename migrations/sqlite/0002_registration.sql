-- 0002: owners register under real name and sign the User Service Agreement.

-- agreement versions: immutable once published
CREATE TABLE agreement_versions (
    version      TEXT PRIMARY KEY,
    body         TEXT NOT NULL,
    digest       TEXT NOT NULL,
    published_at TEXT NOT NULL
);
CREATE TRIGGER agreement_versions_no_update BEFORE UPDATE ON agreement_versions
BEGIN SELECT RAISE(ABORT, 'agreement versions are immutable'); END;
CREATE TRIGGER agreement_versions_no_delete BEFORE DELETE ON agreement_versions
BEGIN SELECT RAISE(ABORT, 'agreement versions are immutable'); END;

-- accounts: owners now; staff, leaders and admins later
CREATE TABLE accounts (
    id                 INTEGER PRIMARY KEY,
    email              TEXT NOT NULL UNIQUE,
    password_hash      TEXT NOT NULL,
    role               TEXT NOT NULL CHECK (role IN ('owner', 'staff', 'leader', 'admin')),
    email_confirmed_at TEXT,
    created_at         TEXT NOT NULL
);

-- registrations: one per USCC
CREATE TABLE registrations (
    id                       INTEGER PRIMARY KEY,
    account_id               INTEGER NOT NULL REFERENCES accounts (id),
    uscc                     TEXT NOT NULL UNIQUE,
    entity_id                INTEGER REFERENCES entities (id),
    entity_name              TEXT NOT NULL,
    legal_rep_name           TEXT NOT NULL,
    legal_rep_id_sealed      BLOB NOT NULL,
    legal_rep_id_lookup      TEXT NOT NULL,
    legal_rep_id_masked      TEXT NOT NULL,
    mobile                   TEXT NOT NULL,
    referral_code            TEXT,
    verification             TEXT NOT NULL
        CHECK (verification IN ('matched', 'review_requested', 'approved', 'rejected')),
    mismatch                 TEXT,
    review_note              TEXT,
    decision_reason          TEXT,
    personal_info_consent_at TEXT NOT NULL,
    sync_state               TEXT NOT NULL DEFAULT 'pending',
    created_at               TEXT NOT NULL,
    updated_at               TEXT NOT NULL
);
CREATE INDEX registrations_by_account ON registrations (account_id);
CREATE INDEX registrations_by_id_lookup ON registrations (legal_rep_id_lookup);

-- signatures: append-only evidence
CREATE TABLE signatures (
    id              INTEGER PRIMARY KEY,
    registration_id INTEGER NOT NULL REFERENCES registrations (id),
    version         TEXT NOT NULL REFERENCES agreement_versions (version),
    digest          TEXT NOT NULL,
    signer_name     TEXT NOT NULL,
    signed_at       TEXT NOT NULL,
    ip              TEXT NOT NULL,
    user_agent      TEXT NOT NULL
);
CREATE INDEX signatures_by_registration ON signatures (registration_id, signed_at);
CREATE TRIGGER signatures_no_update BEFORE UPDATE ON signatures
BEGIN SELECT RAISE(ABORT, 'signatures are append-only'); END;
CREATE TRIGGER signatures_no_delete BEFORE DELETE ON signatures
BEGIN SELECT RAISE(ABORT, 'signatures are append-only'); END;

-- one-time links sent by email (only a hash of the token is stored)
CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    purpose    TEXT NOT NULL CHECK (purpose IN ('confirm_email', 'reset_password')),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX email_tokens_by_account ON email_tokens (account_id, purpose, created_at);

-- sessions: browser cookies and API bearer tokens (only a hash of the id is stored)
CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts (id),
    kind         TEXT NOT NULL CHECK (kind IN ('cookie', 'bearer')),
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);
CREATE INDEX sessions_by_account ON sessions (account_id);

-- failed logins, keyed by a hash of the account or client address, for throttling
CREATE TABLE login_failures (
    id       INTEGER PRIMARY KEY,
    key_hash TEXT NOT NULL,
    at       TEXT NOT NULL
);
CREATE INDEX login_failures_by_key ON login_failures (key_hash, at);

-- audit log (hash chain) ----------------------------------------------------------------------
-- One row per state change or view of full personal data; detail is canonical JSON without
-- personal data. hash = SHA-256 over prev_hash and the row's fields (src/store/audit.rs);
-- prev_hash is UNIQUE so the chain cannot fork. Append-only: UPDATE and DELETE are refused.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL UNIQUE,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_log_by_subject ON audit_log (subject, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
-- end audit log
