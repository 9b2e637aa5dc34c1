-- 0009: the department index only holds entities that have a department. A roster import writes
-- rows without one (rules run after it), and indexing every NULL made each inserted row pay for
-- a second index; every query that uses the index asks for one department (`department_id = $n`),
-- which the partial index answers.
DROP INDEX entities_department;
CREATE INDEX entities_department ON entities (department_id) WHERE department_id IS NOT NULL;
