#!/bin/sh
# Uptime benchmark: bench/monitors.sh [--monitors 10000] [--duration 180] [--skip-build] ...
# See bench/monitors.py --help. Needs python3 and cargo; perf only for --perf.
exec python3 "$(dirname "$0")/monitors.py" "$@"
