-- Releases as sentry-cli and the SDKs name them, per project, with the commits that
-- `sentry-cli releases set-commits` sends.
CREATE TABLE releases (
    id           {id},
    project_id   {int} NOT NULL,
    version      TEXT NOT NULL,
    ref          TEXT,
    url          TEXT,
    created_ms   {int} NOT NULL,
    started_ms   {int},
    released_ms  {int},
    UNIQUE (project_id, version)
);

CREATE TABLE release_commits (
    release_id    {int} NOT NULL,
    position      {int} NOT NULL,
    sha           TEXT NOT NULL,
    repository    TEXT,
    author_name   TEXT,
    author_email  TEXT,
    message       TEXT,
    timestamp_ms  {int},
    PRIMARY KEY (release_id, sha)
) {without_rowid};

-- Chunks of an upload, by their SHA-1, kept until the assemble that names them (or a
-- day, for an upload that never finished).
CREATE TABLE upload_chunks (
    checksum    TEXT PRIMARY KEY,
    data        {blob} NOT NULL,
    created_ms  {int} NOT NULL
);

-- Artifact bundles (zip files of minified sources and their source maps), one row per
-- project they were uploaded for, and an index of the files inside each.
CREATE TABLE artifact_bundles (
    id          {id},
    project_id  {int} NOT NULL,
    checksum    TEXT NOT NULL,
    release     TEXT,
    dist        TEXT,
    size        {int} NOT NULL,
    file_count  {int} NOT NULL,
    created_ms  {int} NOT NULL,
    data        {blob} NOT NULL,
    UNIQUE (project_id, checksum)
);

CREATE TABLE artifact_files (
    bundle_id   {int} NOT NULL,
    project_id  {int} NOT NULL,
    path        TEXT NOT NULL,
    url         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    debug_id    TEXT,
    release     TEXT,
    sourcemap   TEXT,
    PRIMARY KEY (bundle_id, path)
);
CREATE INDEX artifact_files_debug_id ON artifact_files (project_id, debug_id);
CREATE INDEX artifact_files_release ON artifact_files (project_id, release);
