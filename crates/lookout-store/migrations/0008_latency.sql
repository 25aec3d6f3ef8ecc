-- Request latency as mergeable histograms (lookout_core::histogram), rolled up per minute
-- and per hour instead of kept as rows per request. `kind` says what was timed: `request`
-- rows belong to a project (`owner_id`) and a transaction or segment span name; `health`
-- rows to a monitor and one sub-check of its health document. `errors` counts the
-- requests that failed (error status or 5xx), for error-ratio objectives.
CREATE TABLE latency_rollups (
    kind          TEXT NOT NULL,
    owner_id      {int} NOT NULL,
    resolution_ms {int} NOT NULL,
    bucket_ms     {int} NOT NULL,
    name          TEXT NOT NULL,
    release       TEXT NOT NULL,
    environment   TEXT NOT NULL,
    count         {int} NOT NULL,
    errors        {int} NOT NULL,
    hist          {blob} NOT NULL,
    PRIMARY KEY (kind, owner_id, resolution_ms, bucket_ms, name, release, environment)
) {without_rowid};

-- Objectives created through the API (those in the config file live there).
CREATE TABLE slos (
    id          {id},
    name        TEXT NOT NULL UNIQUE,
    spec        {json} NOT NULL,
    created_ms  {int} NOT NULL,
    updated_ms  {int} NOT NULL
);
