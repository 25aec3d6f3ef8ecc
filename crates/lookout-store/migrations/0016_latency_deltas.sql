-- Request and sub-check durations as each commit adds them: one small histogram per
-- transaction (or sub-check), release, environment and minute of the commit's samples,
-- appended without reading anything. The roll-up job moves them into latency_rollups'
-- minute, hour and day rows every few seconds (and deletes them); until then queries read
-- both. Rewriting the large hour and day histograms at every commit was most of the
-- writer's work when every request sends spans.
CREATE TABLE latency_deltas (
    id          {id},
    kind        TEXT NOT NULL,
    owner_id    {int} NOT NULL,
    minute_ms   {int} NOT NULL,
    name        TEXT NOT NULL,
    release     TEXT NOT NULL,
    environment TEXT NOT NULL,
    errors      {int} NOT NULL,
    hist        {blob} NOT NULL
);
CREATE INDEX latency_deltas_range ON latency_deltas (kind, owner_id, minute_ms);
