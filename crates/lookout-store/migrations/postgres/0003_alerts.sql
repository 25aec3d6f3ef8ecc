-- Alerts: incidents and their timelines, the notification outbox, the alert engine's
-- cursors, silences and broken channels. Times are Unix milliseconds.

-- Sequence-assigned ids are never handed out twice: incident ids are shown to people,
-- linked from notifications and named by outbox rows.
CREATE TABLE incidents (
    id           BIGSERIAL PRIMARY KEY,
    rule         TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id   BIGINT NOT NULL,
    severity     TEXT NOT NULL,
    status       TEXT NOT NULL,
    title        TEXT NOT NULL,
    summary      TEXT NOT NULL,
    count        BIGINT NOT NULL,
    opened_ms    BIGINT NOT NULL,
    acked_ms     BIGINT,
    acked_by     TEXT,
    resolved_ms  BIGINT,
    resolved_by  TEXT,
    state        JSONB NOT NULL,
    runbook      TEXT
);
-- At most one incident not resolved per rule and subject: when two instances open the
-- same one at once, the second insert waits for the first and then fails, whichever
-- commits first wins. Queries for open incidents repeat this predicate.
CREATE UNIQUE INDEX incidents_open_key ON incidents (rule, subject_kind, subject_id)
    WHERE status <> 'resolved';
-- Lists are newest first (the primary key) and filter by status or by subject.
CREATE INDEX incidents_status ON incidents (status, id);
CREATE INDEX incidents_subject ON incidents (subject_kind, subject_id, id);

-- A timeline reads in insertion order, which the sequence keeps.
CREATE TABLE incident_timeline (
    id          BIGSERIAL PRIMARY KEY,
    incident_id BIGINT NOT NULL,
    at_ms       BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    text        TEXT NOT NULL,
    actor       TEXT
);
CREATE INDEX incident_timeline_incident ON incident_timeline (incident_id, id);

-- A message's id is its idempotency key at the receiver; the sequence never repeats it.
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    incident_id     BIGINT NOT NULL,
    channel         TEXT NOT NULL,
    event           TEXT NOT NULL,
    payload         JSONB NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    last_error      TEXT,
    created_ms      BIGINT NOT NULL,
    sent_ms         BIGINT
);
-- Only pending messages are ever looked for by due time; delivered ones pile up and
-- would only bloat the index. `id` breaks ties in the delivery order.
CREATE INDEX outbox_due ON outbox (next_attempt_ms, id) WHERE status = 'pending';
CREATE INDEX outbox_incident ON outbox (incident_id, id);

CREATE TABLE alert_cursors (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

-- Silences are deleted by id from the API; a sequence id never points at a newer one.
CREATE TABLE silences (
    id          BIGSERIAL PRIMARY KEY,
    target_kind TEXT NOT NULL,
    target      TEXT NOT NULL,
    until_ms    BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    created_by  TEXT,
    created_ms  BIGINT NOT NULL
);
CREATE INDEX silences_until ON silences (until_ms);

CREATE TABLE broken_channels (
    channel  TEXT PRIMARY KEY,
    reason   TEXT NOT NULL,
    since_ms BIGINT NOT NULL
);
