-- The full-text index on reports, built without blocking writes. CONCURRENTLY cannot run in a
-- transaction, so this step runs in autocommit mode; if a build fails, the INVALID index it
-- leaves behind is dropped before the retry. Index builds may take long: no statement timeout.
-- dbplex: transaction=false statement_timeout=0
CREATE INDEX CONCURRENTLY IF NOT EXISTS reports_search_idx ON reports USING gin (search);

-- dbplex:down
DROP INDEX CONCURRENTLY IF EXISTS reports_search_idx;
