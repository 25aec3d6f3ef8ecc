-- Dashboard accounts: users with argon2id password hashes, sign-in sessions, API tokens
-- and failed sign-ins for rate limiting. Secrets (session ids, tokens) are stored only
-- as SHA-256 hashes: a copy of the database signs nobody in.
CREATE TABLE users (
    id             {id},
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    created_ms     {int} NOT NULL,
    last_login_ms  {int}
);

CREATE TABLE sessions (
    id_hash     TEXT PRIMARY KEY,
    user_id     {int} NOT NULL,
    csrf        TEXT NOT NULL,
    created_ms  {int} NOT NULL,
    expires_ms  {int} NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id            {id},
    user_id       {int} NOT NULL,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    prefix        TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    created_ms    {int} NOT NULL,
    last_used_ms  {int},
    revoked_ms    {int}
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- One row per failed sign-in, keyed by what is limited (an account, an address).
CREATE TABLE login_failures (
    id     {id},
    key    TEXT NOT NULL,
    at_ms  {int} NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (key, at_ms);
