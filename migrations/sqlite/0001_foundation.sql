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

CREATE TABLE entities (
    id            INTEGER PRIMARY KEY,
    uscc          TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    legal_rep     TEXT NOT NULL,
    county_code   TEXT NOT NULL REFERENCES divisions (code),
    township_code TEXT REFERENCES divisions (code),
    industry      TEXT CHECK (industry IS NULL OR length(industry) = 1),
    address       TEXT,
    founded       TEXT,
    status        TEXT NOT NULL DEFAULT 'active',
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX entities_by_division ON entities (county_code, township_code);
