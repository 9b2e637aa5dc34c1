-- 0007: the staff workspace. Staff accounts belong to one department; staff log their outreach
-- to entities; departments run QR campaigns (leaflets, LED screens); staff get a weekly digest.

-- Staff belong to exactly one department (checked where accounts are made: src/store/accounts.rs).
ALTER TABLE accounts ADD COLUMN department_id INTEGER REFERENCES departments (id);
-- Set for accounts made by an admin with a temporary password: the first login must change it.
ALTER TABLE accounts ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN display_name TEXT;
ALTER TABLE accounts ADD COLUMN disabled_at TEXT;
ALTER TABLE accounts ADD COLUMN digest_opt_out_at TEXT;
CREATE INDEX accounts_department ON accounts (department_id);

-- Manual review of registrations that failed roster matching (L2).
ALTER TABLE registrations ADD COLUMN reviewed_by INTEGER REFERENCES accounts (id);
ALTER TABLE registrations ADD COLUMN reviewed_at TEXT;
CREATE INDEX registrations_entity ON registrations (entity_id);
-- When the province first accepted the registration: the pace of onboarding is measured on it.
ALTER TABLE registrations ADD COLUMN accepted_at TEXT;
UPDATE registrations SET accepted_at = updated_at WHERE sync_state = 'accepted';
CREATE INDEX registrations_accepted ON registrations (accepted_at);
CREATE INDEX registrations_referral ON registrations (referral_code);

-- Outreach: who contacted which entity, how, and what came of it.
CREATE TABLE outreach (
    id            INTEGER PRIMARY KEY,
    entity_id     INTEGER NOT NULL REFERENCES entities (id),
    department_id INTEGER NOT NULL REFERENCES departments (id),
    account_id    INTEGER NOT NULL REFERENCES accounts (id),
    channel       TEXT NOT NULL
        CHECK (channel IN ('phone', 'visit', 'leaflet', 'led', 'wechat', 'other')),
    outcome       TEXT NOT NULL
        CHECK (outcome IN ('reached', 'no_answer', 'refused', 'will_register', 'registered', 'other')),
    note          TEXT NOT NULL DEFAULT '',
    contacted_at  TEXT NOT NULL,
    -- A calendar date (YYYY-MM-DD, Beijing time), or NULL when no follow-up is planned.
    follow_up_on  TEXT CHECK (follow_up_on IS NULL OR follow_up_on GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    created_at    TEXT NOT NULL
);
CREATE INDEX outreach_by_entity ON outreach (entity_id, contacted_at);
CREATE INDEX outreach_follow_ups ON outreach (department_id, follow_up_on);
-- The latest outreach per entity, kept beside the roster row so the staff list can filter and
-- sort on it without a subquery per row.
ALTER TABLE entities ADD COLUMN last_contact_at TEXT;

-- Campaigns: a referral code per leaflet run or LED screen, owned by a department.
CREATE TABLE campaigns (
    id            INTEGER PRIMARY KEY,
    department_id INTEGER NOT NULL REFERENCES departments (id),
    code          TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    slogan        TEXT NOT NULL,
    created_by    INTEGER NOT NULL REFERENCES accounts (id),
    created_at    TEXT NOT NULL,
    ended_at      TEXT
);
CREATE INDEX campaigns_department ON campaigns (department_id);

-- Visits to the start page through a campaign's code, counted per Beijing calendar day.
CREATE TABLE campaign_visits (
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
    day         TEXT NOT NULL,
    visits      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, day)
);

-- Weekly digests sent, one row per account and ISO week, so a restart never sends one twice.
CREATE TABLE digest_sends (
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    week       TEXT NOT NULL,
    sent_at    TEXT NOT NULL,
    PRIMARY KEY (account_id, week)
);
