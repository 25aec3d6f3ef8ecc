#!/usr/bin/env python3
"""Sends real events to lookout with the real, unmodified Python `sentry-sdk`.

Usage: python client.py DSN
Prints one JSON object on the last line of stdout: the event ids it captured, by role,
and the release / environment it used. `crates/lookout/tests/sdk_python.rs` runs it and
checks the result through lookout's API.

The events:
  site_a      two KeyErrors raised by `lookup_price` with different keys (one issue, count 2)
  site_b      a ValueError raised by `parse_quantity` (a second issue)
  messages    capture_message twice, differing only in numbers (one issue, count 2)
  unhandled   a WorkerCrashed escaping a thread: the SDK's threading integration reports it
              with mechanism handled=false
  cron        a check-in pair through sentry_sdk.crons.capture_checkin and one through the
              @sentry_sdk.monitor decorator
"""
import json
import sys
import threading
import time

import sentry_sdk
from sentry_sdk.crons import MonitorStatus, capture_checkin

RELEASE = "sdk-suite-py@1.2.3"
ENVIRONMENT = "ci-python"

PRICES = {"apple": 120, "pear": 95}


class WorkerCrashed(Exception):
    pass


def lookup_price(sku):
    return PRICES[sku]


def checkout(sku):
    return lookup_price(sku) * 2


def parse_quantity(raw):
    return int(raw)


def worker_job(job_id):
    raise WorkerCrashed(f"worker crashed while processing job {job_id}")


def capture_site_a(sku, user_id):
    with sentry_sdk.new_scope() as scope:
        scope.set_user({"id": user_id, "email": f"{user_id}@example.com"})
        scope.set_tag("flow", "checkout")
        try:
            checkout(sku)
        except KeyError:
            return sentry_sdk.capture_exception()


def capture_site_b(raw):
    try:
        parse_quantity(raw)
    except ValueError:
        return sentry_sdk.capture_exception()


def report_batch(orders, ms, user_id):
    with sentry_sdk.new_scope() as scope:
        if user_id:
            scope.set_user({"id": user_id})
        return sentry_sdk.capture_message(f"Processed {orders} orders in {ms} ms", level="warning")


def main():
    dsn = sys.argv[1]
    sentry_sdk.init(dsn=dsn, release=RELEASE, environment=ENVIRONMENT)

    out = {"release": RELEASE, "environment": ENVIRONMENT, "sdk_version": sentry_sdk.VERSION}
    out["site_a"] = [capture_site_a("banana", "user-1"), capture_site_a("durian", "user-2")]
    out["site_b"] = [capture_site_b("twelve")]
    out["messages"] = [report_batch(12, 340, "user-3"), report_batch(7, 95, None)]

    # An exception escaping a thread: Python prints it to stderr, the SDK reports it as
    # unhandled. Its event id is not returned to us; the test finds it by type.
    t = threading.Thread(target=worker_job, args=(4711,), name="worker-1")
    t.start()
    t.join()
    out["unhandled_type"] = "WorkerCrashed"

    check_in_id = capture_checkin(monitor_slug="nightly-report", status=MonitorStatus.IN_PROGRESS)
    time.sleep(0.05)
    capture_checkin(monitor_slug="nightly-report", check_in_id=check_in_id, status=MonitorStatus.OK,
                    duration=0.05)

    @sentry_sdk.monitor(monitor_slug="hourly-sync")
    def hourly_sync():
        return 42

    hourly_sync()
    out["check_ins"] = 4

    sentry_sdk.flush(timeout=10)
    sentry_sdk.get_client().close(timeout=10)
    missing = [k for k in ("site_a", "site_b", "messages") if not all(out[k])]
    if missing:
        sys.exit(f"sentry-sdk returned no event id for {missing}: {out}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
