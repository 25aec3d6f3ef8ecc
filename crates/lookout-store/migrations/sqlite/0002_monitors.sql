-- Monitors, their check history, outages and maintenance windows; signals learn about
-- monitors. Times are Unix milliseconds.

-- Signals: `project_id` becomes optional (a monitor need not belong to a project), and
-- `monitor_id`, `detail` are added. SQLite cannot drop NOT NULL in place, so the table is
-- rebuilt with the same ids.
CREATE TABLE signals_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    project_id  INTEGER,
    issue_id    INTEGER,
    event_id    TEXT,
    monitor_id  INTEGER,
    detail      TEXT,
    created_ms  INTEGER NOT NULL
);
INSERT INTO signals_new (id, kind, project_id, issue_id, event_id, created_ms)
    SELECT id, kind, project_id, issue_id, event_id, created_ms FROM signals ORDER BY id;
-- Carry the AUTOINCREMENT high-water mark over, even past deleted rows: the alert engine
-- reads by id cursor, so an id handed out once must never come back.
DELETE FROM sqlite_sequence WHERE name = 'signals_new';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'signals_new', MAX(seq) FROM sqlite_sequence WHERE name = 'signals'
    HAVING MAX(seq) IS NOT NULL;
DROP TABLE signals;
ALTER TABLE signals_new RENAME TO signals;

-- AUTOINCREMENT: signals and outages name monitors by id, so a deleted monitor's id must
-- never be given to a new one.
CREATE TABLE monitors (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL,
    spec             TEXT NOT NULL,
    source           TEXT NOT NULL,
    project_id       INTEGER,
    token            TEXT,
    slug             TEXT,
    paused           INTEGER NOT NULL DEFAULT 0,
    created_ms       INTEGER NOT NULL,
    updated_ms       INTEGER NOT NULL,
    state            TEXT NOT NULL DEFAULT 'unknown',
    last_check_ms    INTEGER,
    last_latency_ms  INTEGER,
    last_error       TEXT,
    down_since_ms    INTEGER,
    tls_expires_ms   INTEGER,
    tls_warned_days  INTEGER,
    running_since_ms INTEGER
);
-- NULL project ids are distinct in a plain unique index; COALESCE makes the monitors
-- without a project one namespace too (project ids start at 1).
CREATE UNIQUE INDEX monitors_name_key ON monitors (COALESCE(project_id, 0), name);
CREATE UNIQUE INDEX monitors_slug_key ON monitors (COALESCE(project_id, 0), slug);
CREATE UNIQUE INDEX monitors_token_key ON monitors (token);

-- Raw results: the bulk of uptime data (~170 rows/s at 10,000 monitors), so every byte
-- counts. The key is the only index; `code` packs the outcome (0 up, 1 degraded, 2 down)
-- and a maintenance flag (4), so an ordinary Up row stores 0 (a zero-byte value), a
-- one- or two-byte latency and a NULL error.
CREATE TABLE check_results (
    monitor_id INTEGER NOT NULL,
    at_ms      INTEGER NOT NULL,
    latency_ms INTEGER,
    code       INTEGER NOT NULL,
    error      TEXT,
    PRIMARY KEY (monitor_id, at_ms)
) WITHOUT ROWID;

-- `resolution` is the bucket length in minutes (1, 60, 1440).
CREATE TABLE check_rollups (
    monitor_id  INTEGER NOT NULL,
    resolution  INTEGER NOT NULL,
    start_ms    INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    failures    INTEGER NOT NULL,
    degraded    INTEGER NOT NULL,
    maintenance INTEGER NOT NULL,
    p50_ms      INTEGER,
    p95_ms      INTEGER,
    p99_ms      INTEGER,
    max_ms      INTEGER,
    PRIMARY KEY (monitor_id, resolution, start_ms)
) WITHOUT ROWID;

-- Per resolution: every bucket starting before `done_ms` is rolled up.
CREATE TABLE check_rollup_marks (
    resolution INTEGER PRIMARY KEY,
    done_ms    INTEGER NOT NULL
);

CREATE TABLE outages (
    id         INTEGER PRIMARY KEY,
    monitor_id INTEGER NOT NULL,
    start_ms   INTEGER NOT NULL,
    end_ms     INTEGER,
    cause      TEXT NOT NULL
);
CREATE INDEX outages_monitor ON outages (monitor_id, start_ms);
-- Downtime over all monitors looks for outages ending after the range start; an open one
-- (NULL end) has not ended at all. Queries use the same expression to hit this index.
CREATE INDEX outages_end ON outages (COALESCE(end_ms, 9223372036854775807));
-- At most one open outage per monitor: a repeated "down confirmed" is a no-op.
CREATE UNIQUE INDEX outages_open ON outages (monitor_id) WHERE end_ms IS NULL;

CREATE TABLE maintenance_windows (
    id         INTEGER PRIMARY KEY,
    monitor_id INTEGER,
    start_ms   INTEGER NOT NULL,
    end_ms     INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX maintenance_windows_end ON maintenance_windows (end_ms);
CREATE INDEX maintenance_windows_monitor ON maintenance_windows (monitor_id);
