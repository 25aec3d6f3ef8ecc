-- Deploys of a release to an environment: recorded by `lookout deploy verify` (with each
-- check's result, the verdict and any rollback) or through the API, and later judged by
-- the watch after the deploy (errors, new issues, unhandled errors, crash-free sessions
-- in a window against the same length before it). The shape follows Sentry's deploy
-- (environment, name, url, dateStarted, dateFinished) so `sentry-cli releases deploys`
-- can write the same records.
CREATE TABLE deploys (
    id             {id},
    project_id     {int} NOT NULL,
    environment    TEXT NOT NULL,
    release        TEXT NOT NULL,
    name           TEXT,
    url            TEXT,
    commit_sha     TEXT,
    started_ms     {int} NOT NULL,
    finished_ms    {int},
    verdict        TEXT,
    checks         {json} NOT NULL,
    rollback       {json},
    watch_until_ms {int},
    watch_verdict  TEXT,
    watch          {json},
    created_ms     {int} NOT NULL
);
CREATE INDEX deploys_project_started ON deploys (project_id, started_ms);
CREATE INDEX deploys_watch_pending ON deploys (watch_until_ms);
