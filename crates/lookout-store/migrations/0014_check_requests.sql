-- "Check now" asked of an instance that does not run the monitor: the owner reads the
-- request at its next sync and checks at once. One row per monitor (asking twice before
-- the owner sees it is one check).
CREATE TABLE check_requests (
    monitor_id    {int} PRIMARY KEY,
    requested_ms  {int} NOT NULL
);
