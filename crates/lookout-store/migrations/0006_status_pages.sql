-- Public status pages, the monitors they show in groups, and what is said in public about
-- incidents and maintenance windows (kept apart from internal notes, so that nothing
-- written for the team can reach a public page by a join). Times are Unix milliseconds.

-- AUTOINCREMENT: pages are named by id in their monitor rows; a deleted page's id must
-- never come back for another page.
CREATE TABLE status_pages (
    id         {id},
    slug       TEXT NOT NULL,
    title      TEXT NOT NULL,
    domain     TEXT,
    source     TEXT NOT NULL,
    created_ms {int} NOT NULL,
    updated_ms {int} NOT NULL
);
CREATE UNIQUE INDEX status_pages_slug ON status_pages (slug);
CREATE UNIQUE INDEX status_pages_domain ON status_pages (domain);

-- One row per monitor shown: groups are named inline (an empty name for the unnamed
-- group) and ordered by `group_pos`, monitors within a group by `pos`.
CREATE TABLE status_page_monitors (
    page_id    {int} NOT NULL,
    group_pos  {int} NOT NULL,
    group_name TEXT NOT NULL,
    pos        {int} NOT NULL,
    monitor_id {int} NOT NULL,
    PRIMARY KEY (page_id, group_pos, pos)
) {without_rowid};
CREATE INDEX status_page_monitors_monitor ON status_page_monitors (monitor_id);

CREATE TABLE incident_public_notes (
    id          {id},
    incident_id {int} NOT NULL,
    at_ms       {int} NOT NULL,
    text        TEXT NOT NULL,
    author      TEXT
);
CREATE INDEX incident_public_notes_incident ON incident_public_notes (incident_id, id);

ALTER TABLE maintenance_windows ADD COLUMN public_note TEXT;
