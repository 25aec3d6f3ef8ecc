-- "Check now" asked of an instance that does not run the monitor: the owner reads the
-- request at its next sync and checks at once. One row per monitor (asking twice before
-- the owner sees it is one check).
CREATE TABLE check_requests (
    monitor_id    {int} PRIMARY KEY,
    requested_ms  {int} NOT NULL
);

-- The latest health document `checks` each health monitor read (NULL: it read none),
-- written by the instance that runs the monitor, so the alert loop's holder evaluates
-- health rules for monitors it does not run.
CREATE TABLE health_readings (
    monitor_id  {int} PRIMARY KEY,
    checks      TEXT,
    at_ms       {int} NOT NULL
);
