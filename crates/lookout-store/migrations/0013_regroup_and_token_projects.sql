-- Regrouping after source maps arrive: one job per stored bundle and project, with the
-- cursor (the last event row looked at) so a restart resumes where it stopped.
CREATE TABLE regroup_jobs (
    id          {id},
    project_id  {int} NOT NULL,
    bundle_id   {int} NOT NULL,
    release     TEXT,
    since_ms    {int} NOT NULL,
    max_events  {int} NOT NULL,
    after_event {int} NOT NULL DEFAULT 0,
    scanned     {int} NOT NULL DEFAULT 0,
    moved       {int} NOT NULL DEFAULT 0,
    created_ms  {int} NOT NULL,
    done_ms     {int}
);
CREATE INDEX regroup_jobs_pending ON regroup_jobs (done_ms, id);

-- Issues merged away by a regroup: the old id's pages and API answers redirect to the
-- issue its events went to.
CREATE TABLE issue_merges (
    issue_id    {int} PRIMARY KEY,
    project_id  {int} NOT NULL,
    into_id     {int} NOT NULL,
    merged_ms   {int} NOT NULL
);
CREATE INDEX issue_merges_into ON issue_merges (into_id);

-- API tokens limited to some projects: a JSON list of project ids; NULL means every project.
ALTER TABLE api_tokens ADD COLUMN projects TEXT;
