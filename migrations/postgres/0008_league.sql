-- 0008: the leaders' read model. `league_counts` holds how many entities are at each stage per
-- county, township, responsible department, kind and roster status; the transactions that change
-- an entity's stage or department keep it current (src/store/league.rs), so league tables never
-- scan the roster. `entities.counted_department` and `counted_stage` remember the department and
-- stage each entity is counted under (its county, township, kind and status are its own columns).

CREATE TABLE league_counts (
    county_code   TEXT NOT NULL,
    township_code TEXT NOT NULL,      -- '' when the roster gives none
    department_id BIGINT NOT NULL,    -- 0 when no department answers for the entity yet
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL,
    stage         TEXT NOT NULL,
    n             BIGINT NOT NULL,
    PRIMARY KEY (county_code, township_code, department_id, kind, status, stage)
);

ALTER TABLE entities ADD COLUMN counted_department BIGINT;
-- NULL: not counted yet (the first refresh counts it).
ALTER TABLE entities ADD COLUMN counted_stage TEXT;

-- Daily snapshots: the read model and the departments (names, kinds, targets) as they were at
-- the end of a Beijing day, so a past day's league table is shown exactly as it was.
CREATE TABLE league_snapshots (
    day           DATE NOT NULL,
    county_code   TEXT NOT NULL,
    township_code TEXT NOT NULL,
    department_id BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL,
    stage         TEXT NOT NULL,
    n             BIGINT NOT NULL,
    PRIMARY KEY (day, county_code, township_code, department_id, kind, status, stage)
);

CREATE TABLE league_snapshot_departments (
    day           DATE NOT NULL,
    department_id BIGINT NOT NULL,
    county_code   TEXT NOT NULL,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    township_code TEXT,
    target_count  BIGINT,
    target_share  DOUBLE PRECISION,
    deadline      DATE,
    PRIMARY KEY (day, department_id)
);

CREATE TABLE league_snapshot_runs (
    day      DATE PRIMARY KEY,
    taken_at TIMESTAMPTZ NOT NULL,
    trigger  TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual'))
);

-- Count what is already there (the same stage rule as src/store/progress.rs STAGE_SQL).
UPDATE entities SET
    counted_department = COALESCE(department_id, 0),
    counted_stage = COALESCE((
        SELECT CASE
            WHEN r.verification = 'rejected' OR r.sync_state = 'rejected' THEN 'rejected'
            WHEN r.sync_state = 'accepted' THEN 'synced'
            WHEN r.verification IN ('matched', 'approved')
                 AND EXISTS (SELECT 1 FROM signatures s WHERE s.registration_id = r.id) THEN 'signed'
            WHEN r.verification IN ('matched', 'approved') THEN 'verified'
            ELSE 'started'
        END
        FROM registrations r WHERE r.entity_id = entities.id LIMIT 1), 'not_started');
INSERT INTO league_counts (county_code, township_code, department_id, kind, status, stage, n)
SELECT county_code, COALESCE(township_code, ''), counted_department, kind, status,
       counted_stage, COUNT(*)
FROM entities
GROUP BY county_code, COALESCE(township_code, ''), counted_department, kind, status,
         counted_stage;
