-- The commit ranges `sentry-cli releases set-commits --commit repo@from..to` names: one
-- per repository, its head commit and the commit before the range (if given). Sentry
-- reads the commits between them from a repository integration; lookout has none, so it
-- keeps the range as given.
CREATE TABLE release_refs (
    release_id       {int} NOT NULL,
    repository       TEXT NOT NULL,
    head_commit      TEXT NOT NULL,
    previous_commit  TEXT,
    PRIMARY KEY (release_id, repository)
) {without_rowid};
