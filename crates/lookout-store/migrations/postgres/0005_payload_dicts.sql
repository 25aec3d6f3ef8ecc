-- zstd dictionaries that event payloads are compressed with, trained per project from
-- its own events. `id` is the dictionary id zstd writes into each frame, so a payload
-- names the dictionary it needs. Never deleted: a payload may outlive any age.
CREATE TABLE payload_dicts (
    id          BIGINT PRIMARY KEY,
    project_id  BIGINT NOT NULL,
    created_ms  BIGINT NOT NULL,
    samples     BIGINT NOT NULL,
    dict        BYTEA NOT NULL
);
