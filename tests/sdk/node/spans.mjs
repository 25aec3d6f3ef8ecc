// Sends request timings to lookout with the official, unmodified @sentry/node SDK, as v2
// `span` items (the SDK's default "stream" trace lifecycle from v11 on).
//
// Usage: node spans.mjs DSN
// Prints one JSON object on the last line of stdout: what it sent.
// crates/lookout/tests/sdk_node.rs runs it and checks the percentiles through lookout's API.
//
//   GET /api/items   100 requests lasting 10, 20, … 1000 ms, each with a child span
//                    (a database query) that is a step of the request, not a request
//   GET /api/slow    20 requests of 2 s, 5 of them failed
import * as Sentry from "@sentry/node";
import { createRequire } from "node:module";

const RELEASE = "sdk-suite-node@2.0.1";
const ENVIRONMENT = "ci-node";

function request(name, startMs, durationMs, failed) {
  Sentry.startNewTrace(() => {
    const segment = Sentry.startInactiveSpan({
      name,
      op: "http.server",
      startTime: startMs / 1000,
      forceTransaction: true,
    });
    const child = Sentry.startInactiveSpan({
      name: "SELECT * FROM items",
      op: "db.query",
      parentSpan: segment,
      startTime: startMs / 1000,
    });
    child.end((startMs + durationMs / 2) / 1000);
    if (failed) {
      segment.setStatus({ code: 2, message: "internal_error" });
    }
    segment.end((startMs + durationMs) / 1000);
  });
}

async function main() {
  const dsn = process.argv[2];
  if (!dsn) {
    console.error("usage: node spans.mjs DSN");
    process.exit(2);
  }
  Sentry.init({ dsn, release: RELEASE, environment: ENVIRONMENT, tracesSampleRate: 1.0 });
  const sdkVersion = createRequire(import.meta.url)("@sentry/node/package.json").version;
  const base = Date.now() - 10 * 60_000;
  // Flushed every 10 requests: the transport holds at most 64 envelopes and drops the
  // rest (reported as queue_overflow), and every segment goes out as its own envelope.
  for (let i = 1; i <= 100; i++) {
    request("GET /api/items", base + i * 1000, i * 10, false);
    if (i % 10 === 0) await Sentry.flush(10000);
  }
  for (let i = 0; i < 20; i++) {
    request("GET /api/slow", base + i * 1000, 2000, i < 5);
    if (i % 10 === 9) await Sentry.flush(10000);
  }
  if (!(await Sentry.flush(10000))) {
    console.error("Sentry.flush timed out");
    process.exit(1);
  }
  await Sentry.close(10000);
  console.log(JSON.stringify({ sdk_version: sdkVersion, release: RELEASE, environment: ENVIRONMENT }));
}

await main();
