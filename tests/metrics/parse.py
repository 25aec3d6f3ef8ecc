"""Parses a /metrics answer with the Prometheus project's Python client.

Usage: python parse.py prometheus|openmetrics < body
Prints one JSON object: {family name: {"type": type, "samples": [[name, labels, value], ...]}}.
Fails (exit 1, the parser's message on stderr) on anything the parser refuses.
"""
import json
import math
import sys

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus


def main():
    fmt = sys.argv[1]
    text = sys.stdin.read()
    parse = parse_openmetrics if fmt == "openmetrics" else parse_prometheus
    out = {}
    for family in parse(text):
        out[family.name] = {
            "type": family.type,
            "samples": [
                [s.name, s.labels, None if math.isnan(s.value) else s.value]
                for s in family.samples
            ],
        }
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the parser's own exceptions vary by format
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
