#!/usr/bin/env python3
"""Sentry cron monitoring with the real, unmodified Python `sentry-sdk`.

Usage: python crons.py DSN
Runs a job wrapped in `@sentry_sdk.monitor` with a `monitor_config` (a nightly crontab in
Europe/Berlin), so lookout creates the heartbeat monitor from the check-ins alone, then a
second monitor whose run fails. Prints one JSON object on the last line of stdout.
`crates/lookout-server/tests/monitors_sdk.rs` runs it and checks the monitors.
"""
import json
import sys
import time

import sentry_sdk

NIGHTLY = {
    "schedule": {"type": "crontab", "value": "0 3 * * *"},
    "timezone": "Europe/Berlin",
    "checkin_margin": 5,
    "max_runtime": 30,
    "failure_issue_threshold": 1,
    "recovery_threshold": 1,
}

HOURLY = {
    "schedule": {"type": "interval", "value": 1, "unit": "hour"},
    "checkin_margin": 10,
}


@sentry_sdk.monitor(monitor_slug="nightly-backup", monitor_config=NIGHTLY)
def nightly_backup():
    time.sleep(0.05)
    return "done"


@sentry_sdk.monitor(monitor_slug="hourly-import", monitor_config=HOURLY)
def hourly_import():
    raise RuntimeError("the import source is unreachable")


def main():
    sentry_sdk.init(dsn=sys.argv[1])
    nightly_backup()
    try:
        hourly_import()
    except RuntimeError:
        pass
    sentry_sdk.flush(timeout=10)
    sentry_sdk.get_client().close(timeout=10)
    print(json.dumps({"sdk_version": sentry_sdk.VERSION}))


if __name__ == "__main__":
    main()
