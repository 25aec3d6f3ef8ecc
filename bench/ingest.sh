#!/bin/sh
# Ingest benchmark: bench/ingest.sh [--postgres URL] [--duration 60] [--concurrency 24] ...
# See bench/ingest.py --help. Needs wrk, sqlite3 (and psql for --postgres), python3, cargo.
exec python3 "$(dirname "$0")/ingest.py" "$@"
