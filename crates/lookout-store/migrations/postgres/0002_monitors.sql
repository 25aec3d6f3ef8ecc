-- Monitors, their check history, outages and maintenance windows; signals learn about
-- monitors. Times are Unix milliseconds.

-- A monitor need not belong to a project.
ALTER TABLE signals
    ALTER COLUMN project_id DROP NOT NULL,
    ADD COLUMN monitor_id BIGINT,
    ADD COLUMN detail TEXT;

CREATE TABLE monitors (
    id               BIGSERIAL PRIMARY KEY,
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL,
    spec             JSONB NOT NULL,
    source           TEXT NOT NULL,
    project_id       BIGINT,
    token            TEXT,
    slug             TEXT,
    paused           BOOLEAN NOT NULL DEFAULT FALSE,
    created_ms       BIGINT NOT NULL,
    updated_ms       BIGINT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'unknown',
    last_check_ms    BIGINT,
    last_latency_ms  BIGINT,
    last_error       TEXT,
    down_since_ms    BIGINT,
    tls_expires_ms   BIGINT,
    tls_warned_days  BIGINT,
    running_since_ms BIGINT
);
-- NULL project ids are distinct in a plain unique index; COALESCE makes the monitors
-- without a project one namespace too (project ids start at 1). Same shape as SQLite's,
-- so that both backends accept the same `ON CONFLICT` target.
CREATE UNIQUE INDEX monitors_name_key ON monitors ((COALESCE(project_id, 0)), name);
CREATE UNIQUE INDEX monitors_slug_key ON monitors ((COALESCE(project_id, 0)), slug);
CREATE UNIQUE INDEX monitors_token_key ON monitors (token);

-- Raw results, the bulk of uptime data: the key is the only index, and the columns are
-- ordered widest first so the tuple has no alignment padding. `code` packs the outcome
-- (0 up, 1 degraded, 2 down) and a maintenance flag (4).
CREATE TABLE check_results (
    monitor_id BIGINT NOT NULL,
    at_ms      BIGINT NOT NULL,
    latency_ms INTEGER,
    code       SMALLINT NOT NULL,
    error      TEXT,
    PRIMARY KEY (monitor_id, at_ms)
);

-- `resolution` is the bucket length in minutes (1, 60, 1440).
CREATE TABLE check_rollups (
    monitor_id  BIGINT NOT NULL,
    start_ms    BIGINT NOT NULL,
    count       INTEGER NOT NULL,
    failures    INTEGER NOT NULL,
    degraded    INTEGER NOT NULL,
    maintenance INTEGER NOT NULL,
    p50_ms      INTEGER,
    p95_ms      INTEGER,
    p99_ms      INTEGER,
    max_ms      INTEGER,
    resolution  SMALLINT NOT NULL,
    PRIMARY KEY (monitor_id, resolution, start_ms)
);

-- Per resolution: every bucket starting before `done_ms` is rolled up.
CREATE TABLE check_rollup_marks (
    resolution SMALLINT PRIMARY KEY,
    done_ms    BIGINT NOT NULL
);

CREATE TABLE outages (
    id         BIGSERIAL PRIMARY KEY,
    monitor_id BIGINT NOT NULL,
    start_ms   BIGINT NOT NULL,
    end_ms     BIGINT,
    cause      TEXT NOT NULL
);
CREATE INDEX outages_monitor ON outages (monitor_id, start_ms);
-- Downtime over all monitors looks for outages ending after the range start; an open one
-- (NULL end) has not ended at all. Queries use the same expression to hit this index.
CREATE INDEX outages_end ON outages ((COALESCE(end_ms, 9223372036854775807)));
-- At most one open outage per monitor: a repeated "down confirmed" is a no-op.
CREATE UNIQUE INDEX outages_open ON outages (monitor_id) WHERE end_ms IS NULL;

CREATE TABLE maintenance_windows (
    id         BIGSERIAL PRIMARY KEY,
    monitor_id BIGINT,
    start_ms   BIGINT NOT NULL,
    end_ms     BIGINT NOT NULL,
    reason     TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX maintenance_windows_end ON maintenance_windows (end_ms);
CREATE INDEX maintenance_windows_monitor ON maintenance_windows (monitor_id);
