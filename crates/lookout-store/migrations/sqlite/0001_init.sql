-- lookout schema, SQLite. Times are Unix milliseconds.

CREATE TABLE projects (
    id          INTEGER PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    public_key  TEXT NOT NULL UNIQUE,
    settings    TEXT NOT NULL,
    created_ms  INTEGER NOT NULL
);

CREATE TABLE issues (
    id               INTEGER PRIMARY KEY,
    project_id       INTEGER NOT NULL,
    fingerprint      TEXT NOT NULL,
    grouping_version TEXT NOT NULL,
    title            TEXT NOT NULL,
    culprit          TEXT NOT NULL,
    level            TEXT NOT NULL,
    status           TEXT NOT NULL,
    substatus        TEXT,
    platform         TEXT,
    first_seen_ms    INTEGER NOT NULL,
    last_seen_ms     INTEGER NOT NULL,
    count            INTEGER NOT NULL DEFAULT 0,
    user_count       INTEGER NOT NULL DEFAULT 0,
    unhandled_count  INTEGER NOT NULL DEFAULT 0,
    first_release    TEXT,
    last_release     TEXT,
    resolved_ms      INTEGER,
    UNIQUE (project_id, fingerprint)
);
CREATE INDEX issues_last_seen ON issues (project_id, last_seen_ms);
CREATE INDEX issues_first_seen ON issues (project_id, first_seen_ms);
CREATE INDEX issues_count ON issues (project_id, count);

CREATE TABLE issue_values (
    issue_id      INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    value         TEXT NOT NULL,
    count         INTEGER NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL,
    PRIMARY KEY (issue_id, kind, value)
) WITHOUT ROWID;

CREATE TABLE issue_users (
    issue_id INTEGER NOT NULL,
    user_key TEXT NOT NULL,
    PRIMARY KEY (issue_id, user_key)
) WITHOUT ROWID;

CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    project_id   INTEGER NOT NULL,
    issue_id     INTEGER NOT NULL,
    event_id     TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    received_ms  INTEGER NOT NULL,
    level        TEXT NOT NULL,
    release      TEXT,
    environment  TEXT,
    title        TEXT NOT NULL,
    payload      BLOB NOT NULL,
    UNIQUE (project_id, event_id)
);
CREATE INDEX events_issue ON events (issue_id, id DESC);
CREATE INDEX events_received ON events (project_id, received_ms);

CREATE TABLE transactions (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL,
    event_id    TEXT NOT NULL,
    name        TEXT NOT NULL,
    op          TEXT,
    status      TEXT,
    start_ms    INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    release     TEXT,
    environment TEXT,
    UNIQUE (project_id, event_id)
);
CREATE INDEX transactions_start ON transactions (project_id, start_ms);

CREATE TABLE session_counts (
    project_id  INTEGER NOT NULL,
    release     TEXT NOT NULL,
    environment TEXT NOT NULL,
    bucket_ms   INTEGER NOT NULL,
    healthy     INTEGER NOT NULL,
    errored     INTEGER NOT NULL,
    crashed     INTEGER NOT NULL,
    abnormal    INTEGER NOT NULL,
    PRIMARY KEY (project_id, release, environment, bucket_ms)
) WITHOUT ROWID;

CREATE TABLE outcomes (
    project_id INTEGER NOT NULL,
    bucket_ms  INTEGER NOT NULL,
    outcome    TEXT NOT NULL,
    category   TEXT NOT NULL,
    reason     TEXT NOT NULL,
    quantity   INTEGER NOT NULL,
    PRIMARY KEY (project_id, bucket_ms, outcome, category, reason)
) WITHOUT ROWID;

CREATE TABLE check_ins (
    id             INTEGER PRIMARY KEY,
    project_id     INTEGER NOT NULL,
    check_in_id    TEXT NOT NULL,
    monitor_slug   TEXT NOT NULL,
    status         TEXT NOT NULL,
    duration_s     REAL,
    environment    TEXT,
    monitor_config TEXT,
    received_ms    INTEGER NOT NULL
);
CREATE INDEX check_ins_project ON check_ins (project_id, received_ms);

CREATE TABLE attachments (
    id              INTEGER PRIMARY KEY,
    project_id      INTEGER NOT NULL,
    event_id        TEXT NOT NULL,
    filename        TEXT NOT NULL,
    content_type    TEXT,
    attachment_type TEXT,
    data            BLOB NOT NULL,
    size            INTEGER NOT NULL,
    received_ms     INTEGER NOT NULL
);
CREATE INDEX attachments_event ON attachments (project_id, event_id);

-- AUTOINCREMENT: the alert engine reads by id cursor, so ids must never be reused.
CREATE TABLE signals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    project_id  INTEGER NOT NULL,
    issue_id    INTEGER,
    event_id    TEXT,
    created_ms  INTEGER NOT NULL
);
