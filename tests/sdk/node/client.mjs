// Sends real events to lookout with the official, unmodified @sentry/node SDK.
//
// Usage: node client.mjs DSN
// Prints one JSON object on the last line of stdout: the event ids it captured, by role.
// crates/lookout/tests/sdk_node.rs runs it and checks the result through lookout's API.
//
//   siteA      two RangeErrors thrown by lookupPrice with different SKUs (one issue, count 2)
//   siteB      a SyntaxError thrown by JSON.parse inside parseQuantity (a second issue)
//   messages   captureMessage twice, differing only in numbers (one issue, count 2)
//   unhandled  a rejected promise nobody handles: the SDK's onUnhandledRejection
//              integration reports it with mechanism handled=false
import * as Sentry from "@sentry/node";
import { createRequire } from "node:module";

const RELEASE = "sdk-suite-node@2.0.1";
const ENVIRONMENT = "ci-node";
const PRICES = { apple: 120, pear: 95 };

class WorkerCrashed extends Error {
  constructor(message) {
    super(message);
    this.name = "WorkerCrashed";
  }
}

function lookupPrice(sku) {
  if (!(sku in PRICES)) {
    throw new RangeError(`unknown sku ${sku}`);
  }
  return PRICES[sku];
}

function checkout(sku) {
  return lookupPrice(sku) * 2;
}

function parseQuantity(raw) {
  return JSON.parse(raw);
}

async function workerJob(jobId) {
  await new Promise((resolve) => setTimeout(resolve, 1));
  throw new WorkerCrashed(`worker crashed while processing job ${jobId}`);
}

function captureSiteA(sku, userId) {
  return Sentry.withScope((scope) => {
    scope.setUser({ id: userId, email: `${userId}@example.com` });
    scope.setTag("flow", "checkout");
    try {
      checkout(sku);
    } catch (e) {
      return Sentry.captureException(e);
    }
    return null;
  });
}

// Both messages are captured here: @sentry/node sends a message with a synthetic
// exception and the caller's stack, so (as in Sentry) one call site makes one issue.
function reportBatch(orders, ms, userId) {
  return Sentry.withScope((scope) => {
    if (userId) {
      scope.setUser({ id: userId });
    }
    return Sentry.captureMessage(`Processed ${orders} orders in ${ms} ms`, "warning");
  });
}

function captureSiteB(raw) {
  try {
    parseQuantity(raw);
  } catch (e) {
    return Sentry.captureException(e);
  }
  return null;
}

async function main() {
  const dsn = process.argv[2];
  if (!dsn) {
    console.error("usage: node client.mjs DSN");
    process.exit(2);
  }
  Sentry.init({ dsn, release: RELEASE, environment: ENVIRONMENT });
  const sdkVersion = createRequire(import.meta.url)("@sentry/node/package.json").version;

  const out = { release: RELEASE, environment: ENVIRONMENT, sdk_version: sdkVersion };
  out.site_a = [captureSiteA("banana", "user-1"), captureSiteA("durian", "user-2")];
  out.site_b = [captureSiteB("{twelve}")];
  out.messages = [reportBatch(12, 340, "user-3"), reportBatch(7, 95, null)];

  // Nobody awaits this promise: Node reports an unhandled rejection and the SDK's
  // integration captures it (in its default "warn" mode the process keeps running).
  workerJob(4711);
  await new Promise((resolve) => setTimeout(resolve, 200));
  out.unhandled_type = "WorkerCrashed";

  if (!(await Sentry.flush(10000))) {
    console.error("Sentry.flush timed out");
    process.exit(1);
  }
  await Sentry.close(10000);
  const missing = ["site_a", "site_b", "messages"].filter((k) => !out[k].every(Boolean));
  if (missing.length) {
    console.error(`@sentry/node returned no event id for ${missing}: ${JSON.stringify(out)}`);
    process.exit(1);
  }
  console.log(JSON.stringify(out));
}

await main();
