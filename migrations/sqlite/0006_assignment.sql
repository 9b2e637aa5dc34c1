-- 0006: responsible departments (责任部门) for roster entities, the rules that assign them, and
-- per-department targets. Rule order and matching are explained in src/assignment.rs.

CREATE TABLE assignment_rules (
    id            INTEGER PRIMARY KEY,
    priority      INTEGER NOT NULL CHECK (priority >= 0),
    match_kind    TEXT NOT NULL CHECK (match_kind IN ('township', 'industry', 'kind', 'any')),
    -- A township code, a GB/T 4754 section letter or an entity-kind code; NULL only for 'any'.
    match_value   TEXT,
    department_id INTEGER NOT NULL REFERENCES departments (id),
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CHECK ((match_kind = 'any') = (match_value IS NULL))
);
-- An expression, not UNIQUE (match_kind, match_value): NULLs are distinct in a plain unique
-- constraint, which would allow two catch-all rules.
CREATE UNIQUE INDEX assignment_rules_match ON assignment_rules (match_kind, COALESCE(match_value, ''));

-- No foreign key on entities.department_id, like the roster's division codes (see 0001): the
-- roster load stays FK-free, and departments are never deleted.
ALTER TABLE entities ADD COLUMN department_id INTEGER;
ALTER TABLE entities ADD COLUMN assigned_by TEXT CHECK (assigned_by IN ('rule', 'manual'));
CREATE INDEX entities_department ON entities (department_id);

CREATE TABLE department_targets (
    department_id INTEGER NOT NULL REFERENCES departments (id),
    period        TEXT NOT NULL CHECK (period GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]'),
    target_count  INTEGER CHECK (target_count IS NULL OR target_count > 0),
    target_share  REAL CHECK (target_share IS NULL OR (target_share > 0 AND target_share <= 1)),
    deadline      TEXT NOT NULL,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CHECK ((target_count IS NULL) <> (target_share IS NULL)),
    PRIMARY KEY (department_id, period)
);
