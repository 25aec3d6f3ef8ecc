-- Several lookout instances on one database: each serving instance registers here and
-- heartbeats; one whose heartbeat is older than the lease TTL is dead.
CREATE TABLE instances (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    host            TEXT NOT NULL,
    version         TEXT NOT NULL,
    addr            TEXT NOT NULL,
    config_hash     TEXT NOT NULL,
    config_summary  TEXT NOT NULL,
    started_ms      {int} NOT NULL,
    heartbeat_ms    {int} NOT NULL
);

-- Work that runs on one instance at a time (the alert loop, the outbox, jobs…): a lease
-- taken and renewed with a conditional write; an expired one may be taken over.
CREATE TABLE duties (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    taken_ms    {int} NOT NULL,
    expires_ms  {int} NOT NULL
);
