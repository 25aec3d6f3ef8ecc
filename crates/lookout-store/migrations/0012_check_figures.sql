-- What a check measured besides its total time, kept as history: an HTTP check's phases
-- (DNS, connect, TLS, first byte) in whole ms, and a pm2 app's memory (KiB) and CPU
-- (tenths of a percent of one core). NULL when the check does not measure it; small
-- integers, so an HTTP result grows by a few bytes. Roll-ups keep each one's mean over
-- the bucket's checks that measured it, so 90 days of them can be drawn.
ALTER TABLE check_results ADD COLUMN dns_ms INTEGER;
ALTER TABLE check_results ADD COLUMN connect_ms INTEGER;
ALTER TABLE check_results ADD COLUMN tls_ms INTEGER;
ALTER TABLE check_results ADD COLUMN first_byte_ms INTEGER;
ALTER TABLE check_results ADD COLUMN memory_kb INTEGER;
ALTER TABLE check_results ADD COLUMN cpu_permille INTEGER;
ALTER TABLE check_rollups ADD COLUMN dns_ms INTEGER;
ALTER TABLE check_rollups ADD COLUMN connect_ms INTEGER;
ALTER TABLE check_rollups ADD COLUMN tls_ms INTEGER;
ALTER TABLE check_rollups ADD COLUMN first_byte_ms INTEGER;
ALTER TABLE check_rollups ADD COLUMN memory_kb INTEGER;
ALTER TABLE check_rollups ADD COLUMN cpu_permille INTEGER;
