-- lookout schema, PostgreSQL. Times are Unix milliseconds.

CREATE TABLE projects (
    id          BIGSERIAL PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    public_key  TEXT NOT NULL UNIQUE,
    settings    TEXT NOT NULL,
    created_ms  BIGINT NOT NULL
);

CREATE TABLE issues (
    id               BIGSERIAL PRIMARY KEY,
    project_id       BIGINT NOT NULL,
    fingerprint      TEXT NOT NULL,
    grouping_version TEXT NOT NULL,
    title            TEXT NOT NULL,
    culprit          TEXT NOT NULL,
    level            TEXT NOT NULL,
    status           TEXT NOT NULL,
    substatus        TEXT,
    platform         TEXT,
    first_seen_ms    BIGINT NOT NULL,
    last_seen_ms     BIGINT NOT NULL,
    count            BIGINT NOT NULL DEFAULT 0,
    user_count       BIGINT NOT NULL DEFAULT 0,
    unhandled_count  BIGINT NOT NULL DEFAULT 0,
    first_release    TEXT,
    last_release     TEXT,
    resolved_ms      BIGINT,
    UNIQUE (project_id, fingerprint)
);
CREATE INDEX issues_last_seen ON issues (project_id, last_seen_ms);
CREATE INDEX issues_first_seen ON issues (project_id, first_seen_ms);
CREATE INDEX issues_count ON issues (project_id, count);

CREATE TABLE issue_values (
    issue_id      BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    value         TEXT NOT NULL,
    count         BIGINT NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL,
    PRIMARY KEY (issue_id, kind, value)
);

CREATE TABLE issue_users (
    issue_id BIGINT NOT NULL,
    user_key TEXT NOT NULL,
    PRIMARY KEY (issue_id, user_key)
);

CREATE TABLE events (
    id           BIGSERIAL PRIMARY KEY,
    project_id   BIGINT NOT NULL,
    issue_id     BIGINT NOT NULL,
    event_id     TEXT NOT NULL,
    timestamp_ms BIGINT NOT NULL,
    received_ms  BIGINT NOT NULL,
    level        TEXT NOT NULL,
    release      TEXT,
    environment  TEXT,
    title        TEXT NOT NULL,
    payload      BYTEA NOT NULL,
    UNIQUE (project_id, event_id)
);
-- Payloads are zstd-compressed already: never try to compress them again, and keep
-- typical ones (~2 KB) in the row rather than in the TOAST table.
ALTER TABLE events ALTER COLUMN payload SET STORAGE EXTERNAL;
ALTER TABLE events SET (toast_tuple_target = 4080);
CREATE INDEX events_issue ON events (issue_id, id DESC);
CREATE INDEX events_received ON events (project_id, received_ms);

CREATE TABLE transactions (
    id          BIGSERIAL PRIMARY KEY,
    project_id  BIGINT NOT NULL,
    event_id    TEXT NOT NULL,
    name        TEXT NOT NULL,
    op          TEXT,
    status      TEXT,
    start_ms    BIGINT NOT NULL,
    duration_ms DOUBLE PRECISION NOT NULL,
    release     TEXT,
    environment TEXT,
    UNIQUE (project_id, event_id)
);
CREATE INDEX transactions_start ON transactions (project_id, start_ms);

CREATE TABLE session_counts (
    project_id  BIGINT NOT NULL,
    release     TEXT NOT NULL,
    environment TEXT NOT NULL,
    bucket_ms   BIGINT NOT NULL,
    healthy     BIGINT NOT NULL,
    errored     BIGINT NOT NULL,
    crashed     BIGINT NOT NULL,
    abnormal    BIGINT NOT NULL,
    PRIMARY KEY (project_id, release, environment, bucket_ms)
);

CREATE TABLE outcomes (
    project_id BIGINT NOT NULL,
    bucket_ms  BIGINT NOT NULL,
    outcome    TEXT NOT NULL,
    category   TEXT NOT NULL,
    reason     TEXT NOT NULL,
    quantity   BIGINT NOT NULL,
    PRIMARY KEY (project_id, bucket_ms, outcome, category, reason)
);

CREATE TABLE check_ins (
    id             BIGSERIAL PRIMARY KEY,
    project_id     BIGINT NOT NULL,
    check_in_id    TEXT NOT NULL,
    monitor_slug   TEXT NOT NULL,
    status         TEXT NOT NULL,
    duration_s     DOUBLE PRECISION,
    environment    TEXT,
    monitor_config TEXT,
    received_ms    BIGINT NOT NULL
);
CREATE INDEX check_ins_project ON check_ins (project_id, received_ms);

CREATE TABLE attachments (
    id              BIGSERIAL PRIMARY KEY,
    project_id      BIGINT NOT NULL,
    event_id        TEXT NOT NULL,
    filename        TEXT NOT NULL,
    content_type    TEXT,
    attachment_type TEXT,
    data            BYTEA NOT NULL,
    size            BIGINT NOT NULL,
    received_ms     BIGINT NOT NULL
);
CREATE INDEX attachments_event ON attachments (project_id, event_id);

CREATE TABLE signals (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL,
    project_id  BIGINT NOT NULL,
    issue_id    BIGINT,
    event_id    TEXT,
    created_ms  BIGINT NOT NULL
);
