-- Events counted per project, hour of arrival, level, environment and release, kept as
-- the batch writes them: objectives over errors per hour read 30 days of these instead of
-- counting 30 days of event rows. '' stands for an event without environment or release
-- (a key column cannot be NULL). The counts outlive the events' own retention.
CREATE TABLE event_hours (
    project_id  {int} NOT NULL,
    hour_ms     {int} NOT NULL,
    level       TEXT NOT NULL,
    environment TEXT NOT NULL,
    release     TEXT NOT NULL,
    count       {int} NOT NULL,
    PRIMARY KEY (project_id, hour_ms, level, environment, release)
) {without_rowid};

INSERT INTO event_hours (project_id, hour_ms, level, environment, release, count)
SELECT project_id, (received_ms / 3600000) * 3600000, level, COALESCE(environment, ''),
       COALESCE(release, ''), COUNT(*)
FROM events
GROUP BY project_id, (received_ms / 3600000) * 3600000, level, COALESCE(environment, ''),
         COALESCE(release, '');
