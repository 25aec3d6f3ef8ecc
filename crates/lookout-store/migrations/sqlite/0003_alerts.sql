-- Alerts: incidents and their timelines, the notification outbox, the alert engine's
-- cursors, silences and broken channels. Times are Unix milliseconds.

-- AUTOINCREMENT: incident ids are shown to people, linked from notifications and named by
-- outbox rows, so a deleted incident's id must never be given to a new one.
CREATE TABLE incidents (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    rule         TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id   INTEGER NOT NULL,
    severity     TEXT NOT NULL,
    status       TEXT NOT NULL,
    title        TEXT NOT NULL,
    summary      TEXT NOT NULL,
    count        INTEGER NOT NULL,
    opened_ms    INTEGER NOT NULL,
    acked_ms     INTEGER,
    acked_by     TEXT,
    resolved_ms  INTEGER,
    resolved_by  TEXT,
    state        TEXT NOT NULL,
    runbook      TEXT
);
-- At most one incident not resolved per rule and subject: opening a second one is a
-- conflict, whoever tries. Queries for open incidents repeat this predicate word for word
-- so that SQLite can use the index for them.
CREATE UNIQUE INDEX incidents_open_key ON incidents (rule, subject_kind, subject_id)
    WHERE status <> 'resolved';
-- Lists are newest first (the primary key) and filter by status or by subject.
CREATE INDEX incidents_status ON incidents (status, id);
CREATE INDEX incidents_subject ON incidents (subject_kind, subject_id, id);

-- A timeline reads in insertion order, which the row id keeps.
CREATE TABLE incident_timeline (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL,
    at_ms       INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    text        TEXT NOT NULL,
    actor       TEXT
);
CREATE INDEX incident_timeline_incident ON incident_timeline (incident_id, id);

-- AUTOINCREMENT: a message's id is its idempotency key at the receiver, so it must never
-- come back for another message.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id     INTEGER NOT NULL,
    channel         TEXT NOT NULL,
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    last_error      TEXT,
    created_ms      INTEGER NOT NULL,
    sent_ms         INTEGER
);
-- Only pending messages are ever looked for by due time; delivered ones pile up and
-- would only bloat the index. `id` breaks ties in the delivery order.
CREATE INDEX outbox_due ON outbox (next_attempt_ms, id) WHERE status = 'pending';
CREATE INDEX outbox_incident ON outbox (incident_id, id);

CREATE TABLE alert_cursors (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

-- AUTOINCREMENT: silences are deleted by id from the API; a stale delete must not hit a
-- newer silence that got the same id.
CREATE TABLE silences (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    target_kind TEXT NOT NULL,
    target      TEXT NOT NULL,
    until_ms    INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    created_by  TEXT,
    created_ms  INTEGER NOT NULL
);
CREATE INDEX silences_until ON silences (until_ms);

CREATE TABLE broken_channels (
    channel  TEXT PRIMARY KEY,
    reason   TEXT NOT NULL,
    since_ms INTEGER NOT NULL
) WITHOUT ROWID;
