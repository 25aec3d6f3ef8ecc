#!/usr/bin/env python3
"""A release right after its deploy, as the real, unmodified Python `sentry-sdk` reports it.

Usage: python deploy_release.py DSN RELEASE ENVIRONMENT ERRORS
Captures ERRORS errors from three code sites of the new release (each site a new issue),
and for ERRORS > 0 one exception escaping a thread (unhandled). Prints one JSON object on
the last line: the event ids and the SDK's version. `crates/lookout/tests/deploy_watch.rs`
runs it between a deploy and the end of its watch.
"""
import json
import sys
import threading

import sentry_sdk


class PaymentDeclined(Exception):
    pass


class CartCorrupted(Exception):
    pass


class WorkerCrashed(Exception):
    pass


def charge(order):
    raise PaymentDeclined(f"card declined for order {order}")


def load_cart(order):
    raise CartCorrupted(f"cart of order {order} cannot be read")


def price(order):
    return {"apple": 120}[f"sku-{order}"]


SITES = [charge, load_cart, price]


def worker_job():
    raise WorkerCrashed("the new release crashed the worker")


def main():
    dsn, release, environment, errors = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    sentry_sdk.init(dsn=dsn, release=release, environment=environment)
    ids = []
    for n in range(errors):
        try:
            SITES[n % len(SITES)](n)
        except Exception:
            ids.append(sentry_sdk.capture_exception())
    if errors > 0:
        t = threading.Thread(target=worker_job, name="worker-1")
        t.start()
        t.join()
    sentry_sdk.flush(timeout=10)
    sentry_sdk.get_client().close(timeout=10)
    if not all(ids):
        sys.exit(f"sentry-sdk returned no event id: {ids}")
    print(json.dumps({"event_ids": ids, "sdk_version": sentry_sdk.VERSION}))


if __name__ == "__main__":
    main()
