-- Foundation: divisions, departments and the market-entity roster.
-- Timestamps are UTC RFC 3339 text; dates are YYYY-MM-DD text.

CREATE TABLE divisions (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('province', 'city', 'county', 'township')),
    parent_code TEXT REFERENCES divisions (code)
);

CREATE TABLE departments (
    id            INTEGER PRIMARY KEY,
    county_code   TEXT NOT NULL REFERENCES divisions (code),
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('bureau', 'township', 'financial')),
    township_code TEXT REFERENCES divisions (code),
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (county_code, name)
);

-- The roster's division codes are checked against the division tree by the import rules
-- (src/roster/row.rs), not by foreign keys: per-row FK checks tripled the time of a
-- million-row load on PostgreSQL, and the tree is reference data seeded from code.
CREATE TABLE entities (
    id            INTEGER PRIMARY KEY,
    uscc          TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    legal_rep     TEXT NOT NULL,
    county_code   TEXT NOT NULL,
    township_code TEXT,
    industry      TEXT CHECK (industry IS NULL OR length(industry) = 1),
    address       TEXT,
    founded       TEXT,
    status        TEXT NOT NULL DEFAULT 'active',
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
