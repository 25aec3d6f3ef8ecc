-- Alert rules created through the API (rules in the config file are not stored).
CREATE TABLE alert_rules (
    name        TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,
    created_ms  INTEGER NOT NULL
);
